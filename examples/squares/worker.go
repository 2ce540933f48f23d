package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// addWorker adds a worker to p: an actor whose mailbox is a PULL socket
// connected to the ventilator, that squares each number and tells the result
// to a PUSH reference to the results manager; and an actor whose mailbox is
// a SUB socket on the control channel, that ends the pipeline on FINISH.
// (The article's worker polls both sockets in one loop; here each socket is
// the mailbox of its own actor.) It returns the tasks mailbox, whose socket
// says whether the ventilator has been reached.
func addWorker(p *patterns.Pipeline, id int32, eps endpoints) (*patterns.Inbox[Task], error) {
	control, err := patterns.Sub(patterns.String{}, patterns.Connect(eps.control))
	if err != nil {
		return nil, err
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
		return nil, err
	}
	results, err := patterns.Push(patterns.Binary[Report]{}, patterns.Connect(eps.results))
	if err != nil {
		return nil, err
	}
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
	}, actor.WithFeed(tasks), actor.WithOutput(results))
	return tasks, nil
}

// runWorker is a worker process: it runs until FINISH comes, or ctx ends.
func runWorker(ctx context.Context, id int32, eps endpoints) error {
	if eps.tasks == "" || eps.results == "" || eps.control == "" {
		return fmt.Errorf("-role worker needs -tasks, -results and -control")
	}
	p := patterns.NewPipeline(actor.WithName(fmt.Sprintf("worker %d", id)))
	tasks, err := addWorker(p, id, eps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchVentilator(ctx, os.Stderr, id, eps.tasks, tasks.Socket())
	}()
	err = p.Run(ctx)
	cancel()
	<-watched
	return err
}

// noVentilatorAfter is how long a worker waits for the ventilator before it
// says so.
var noVentilatorAfter = 10 * time.Second

// watchVentilator says on w when the worker has not reached the ventilator
// for noVentilatorAfter, and again when it does, until ctx ends. A
// connecting socket waits for its peer for ever, as ZeroMQ's connect does: a
// wrong -tasks, or a manager not started yet, would otherwise look the same
// as a slow start.
func watchVentilator(ctx context.Context, w io.Writer, id int32, ep string, tasks *socket.Socket) {
	t := time.NewTicker(noVentilatorAfter)
	defer t.Stop()
	told := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch reached := tasks.Stats().Peers > 0; {
		case !reached && !told:
			fmt.Fprintf(w, "squares: worker %d: no ventilator at %s after %s; still trying\n", id, ep, noVentilatorAfter)
			told = true
		case reached && told:
			fmt.Fprintf(w, "squares: worker %d: reached the ventilator at %s\n", id, ep)
			return
		case reached:
			return
		}
	}
}
