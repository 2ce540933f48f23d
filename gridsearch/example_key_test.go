package gridsearch_test

import (
	"context"
	"fmt"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/socket"
)

// A master and a remote worker that share a cluster key: they authenticate
// each other and the points travel encrypted. A worker without the key
// would get no point (see KeyOptions).
func ExampleKeyOptions() {
	kp, err := socket.NewCurveKeyPair() // gridsearch keygen writes one to files
	if err != nil {
		fmt.Println(err)
		return
	}
	master, worker := gridsearch.KeyOptions(kp)
	g, _ := gridsearch.NewGrid("x=1..4")
	square := func(ctx context.Context, pt gridsearch.Point) (any, error) {
		return pt.Float("x") * pt.Float("x"), nil
	}
	ctx, stopWorkers := context.WithCancel(context.Background())
	served := make(chan error, 1)
	total := 0.0
	sum, err := gridsearch.Run(context.Background(), gridsearch.Config{
		Grid:          g,
		Func:          square,
		Workers:       -1, // the remote worker only
		Bind:          "tcp://127.0.0.1:*",
		BrokerOptions: []pirate.Option{master},
		OnBound: func(endpoint string) {
			go func() {
				served <- gridsearch.ServeWith(ctx, gridsearch.ServeConfig{Endpoint: endpoint, Slots: 2,
					Func: square, Options: []pirate.Option{worker}})
			}()
		},
		OnResult: func(r gridsearch.Record) error {
			v, _ := gridsearch.Field(r.Result, ".")
			total += v
			return nil
		},
	})
	stopWorkers()
	fmt.Println(sum.Done, total, err, <-served)
	// Output: 4 30 <nil> <nil>
}
