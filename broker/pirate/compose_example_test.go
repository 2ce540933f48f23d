package pirate_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// Two stages, each behind its own load balancer: a Stage squares each
// number and passes it on to the reduce stage, whose worker keeps a running
// sum; the reply retraces the chain to the client, the sink. Over inproc
// here; over tcp each piece can run in a process of its own.
func ExampleStage() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	mapLB, err := pirate.NewLoadBalancer("inproc://compose-map-front", "inproc://compose-map-back")
	if err != nil {
		panic(err)
	}
	defer mapLB.Close()
	reduceLB, err := pirate.NewLoadBalancer("inproc://compose-reduce-front", "inproc://compose-reduce-back")
	if err != nil {
		panic(err)
	}
	defer reduceLB.Close()

	// The reduce stage: one worker, so one running sum.
	sum := 0
	reducer, err := pirate.NewWorker(reduceLB.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		v, err := strconv.Atoi(string(req[0]))
		if err != nil {
			return nil, err
		}
		sum += v
		return [][]byte{req[0], []byte(strconv.Itoa(sum))}, nil
	})
	if err != nil {
		panic(err)
	}
	defer reducer.Close()

	// The map stage: workers of the map broker, clients of the reduce one.
	square := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		x, err := strconv.Atoi(string(req[0]))
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(strconv.Itoa(x * x))}, nil
	}
	for range 2 {
		s, err := pirate.NewStage(mapLB.Backend(), square, reduceLB.Frontend())
		if err != nil {
			panic(err)
		}
		defer s.Close()
	}

	sink, err := pirate.NewClient(mapLB.Frontend())
	if err != nil {
		panic(err)
	}
	defer sink.Close()
	for x := 1; x <= 4; x++ {
		reply, err := sink.Request(ctx, []byte(strconv.Itoa(x)))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d squared is %s, running sum %s\n", x, reply[0], reply[1])
	}
	// Output:
	// 1 squared is 1, running sum 1
	// 2 squared is 4, running sum 5
	// 3 squared is 9, running sum 14
	// 4 squared is 16, running sum 30
}
