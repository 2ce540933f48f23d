package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
)

// addWorker adds a worker to p: an actor whose mailbox is a PULL socket
// connected to the ventilator, that squares each number and tells the result
// to a PUSH reference to the results manager; and an actor whose mailbox is
// a SUB socket on the control channel, that ends the pipeline on FINISH.
// (The article's worker polls both sockets in one loop; here each socket is
// the mailbox of its own actor.)
func addWorker(p *patterns.Pipeline, id int32, eps endpoints) error {
	control, err := patterns.Sub(patterns.String{}, patterns.Connect(eps.control))
	if err != nil {
		return err
	}
	patterns.Stage(p, fmt.Sprintf("worker %d control", id), func() actor.Behavior[string] {
		return actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
			if m == finish {
				return patterns.ErrStop
			}
			return nil
		})
	}, actor.WithFeed(control))

	tasks, err := patterns.Pull(patterns.Binary[Task]{}, patterns.Connect(eps.tasks))
	if err != nil {
		return err
	}
	results, err := patterns.Push(patterns.Binary[Report]{}, patterns.Connect(eps.results))
	if err != nil {
		return err
	}
	p.Own(results)
	manager := results.Ref()
	pid := int32(os.Getpid())
	patterns.Stage(p, fmt.Sprintf("worker %d", id), func() actor.Behavior[Task] {
		return actor.BehaviorFunc[Task](func(ctx context.Context, t Task) error {
			if *work > 0 {
				select {
				case <-time.After(*work):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return manager.Tell(ctx, Report{Kind: kindSquare, N: t.N, Square: t.N * t.N, Worker: id, Pid: pid})
		})
	}, actor.WithFeed(tasks))
	return nil
}

// runWorker is a worker process: it runs until FINISH comes, or ctx ends.
func runWorker(ctx context.Context, id int32, eps endpoints) error {
	if eps.tasks == "" || eps.results == "" || eps.control == "" {
		return fmt.Errorf("-role worker needs -tasks, -results and -control")
	}
	p := patterns.NewPipeline(actor.WithName(fmt.Sprintf("worker %d", id)))
	if err := addWorker(p, id, eps); err != nil {
		return err
	}
	return p.Run(ctx)
}
