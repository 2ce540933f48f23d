package peering_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/broker/peering"
	"github.com/zmqflow/zmqflow/broker/pirate"
)

// Two peered brokers (guide ch. 3, "Inter-Broker Routing"): north has no
// workers of its own, so its client's requests go to south, which has one,
// and the replies come back through north.
func ExampleBroker() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	newBroker := func(name string) *peering.Broker {
		ep := func(what string) string { return "inproc://example-peering-" + name + "-" + what }
		b, err := peering.NewBroker(name, ep("front"), ep("back"), ep("cloud"), ep("state"),
			peering.WithHeartbeat(100*time.Millisecond, 5))
		if err != nil {
			panic(err)
		}
		return b
	}
	north, south := newBroker("north"), newBroker("south")
	defer south.Close()
	defer north.Close()
	if err := north.Peer(south.Cloud(), south.State()); err != nil {
		panic(err)
	}
	if err := south.Peer(north.Cloud(), north.State()); err != nil {
		panic(err)
	}

	w, err := pirate.NewWorker(south.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte("south did " + string(req[0]))}, nil
	}, pirate.WithHeartbeat(100*time.Millisecond, 5))
	if err != nil {
		panic(err)
	}
	defer w.Close()
	// Wait until north has heard of south's idle worker; without it the
	// requests would wait at north until it does.
	if err := north.Wait(ctx, func(s peering.Stats) bool { return s.CloudIdle > 0 }); err != nil {
		panic(err)
	}

	c, err := pirate.NewClient(north.Frontend())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for _, job := range []string{"map", "reduce"} {
		reply, err := c.Request(ctx, []byte(job))
		if err != nil {
			panic(err)
		}
		fmt.Println(string(reply[0]))
	}
	// Output:
	// south did map
	// south did reduce
}
