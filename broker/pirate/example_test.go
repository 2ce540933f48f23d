package pirate_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// A load balancer with Paranoid Pirate heartbeats (guide ch. 3 and 4):
// workers register, the client's requests go to the least recently used
// idle worker, and the client resends what gets no reply.
func ExampleLoadBalancer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	lb, err := pirate.NewLoadBalancer("inproc://example-front", "inproc://example-back")
	if err != nil {
		panic(err)
	}
	defer lb.Close()

	upper := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}
	for range 2 {
		w, err := pirate.NewWorker(lb.Backend(), upper)
		if err != nil {
			panic(err)
		}
		defer w.Close()
	}

	c, err := pirate.NewClient(lb.Frontend(), pirate.WithTimeout(time.Second), pirate.WithRetries(3))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for _, word := range []string{"paranoid", "pirate"} {
		reply, err := c.Request(ctx, []byte(word))
		if err != nil {
			panic(err)
		}
		fmt.Println(string(reply[0]))
	}
	// Output:
	// PARANOID
	// PIRATE
}
