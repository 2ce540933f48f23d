package actor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// An actor owns its state; other goroutines reach it only by messages.
func ExampleSpawn() {
	ctx := context.Background()
	total := 0 // the actor's state: touched by its goroutine only
	a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, n int) error {
		total += n
		return nil
	}), actor.WithName("adder"), actor.WithMailbox(actor.Bounded(100)))
	if err != nil {
		panic(err)
	}
	for n := 1; n <= 10; n++ {
		a.Tell(ctx, n) // blocks only if 100 messages are waiting
	}
	a.Stop(ctx) // handles all ten, then the goroutine ends
	fmt.Println(total)
	// Output: 55
}

// Ask sends a request and waits for the reply within ctx's deadline.
func ExampleAsk() {
	ctx := context.Background()
	type lookup = actor.Request[string, int]
	ages := map[string]int{"ada": 36}
	a, _ := actor.Spawn[lookup](ctx, actor.BehaviorFunc[lookup](func(ctx context.Context, r lookup) error {
		age, ok := ages[r.Query]
		if !ok {
			r.Reply(0, fmt.Errorf("%s: unknown", r.Query))
			return nil
		}
		r.Reply(age, nil)
		return nil
	}))
	defer a.Close()

	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	age, err := actor.Ask(actx, a.Ref(), "ada")
	fmt.Println(age, err)
	_, err = actor.Ask(actx, a.Ref(), "bob")
	fmt.Println(err)

	a.Close()
	_, err = actor.Ask(actx, a.Ref(), "ada")
	fmt.Println(errors.Is(err, actor.ErrStopped), errors.Is(err, actor.ErrAskTimeout))
	// Output:
	// 36 <nil>
	// bob: unknown
	// true false
}

// An Asker asks from one goroutine, request after request, and keeps its
// reply slot between them, as a loop keeps the reply channel it made once.
func ExampleAsker() {
	ctx := context.Background()
	type square = actor.Request[int, int]
	a, _ := actor.Spawn[square](ctx, actor.BehaviorFunc[square](func(ctx context.Context, r square) error {
		r.Reply(r.Query*r.Query, nil)
		return nil
	}))
	defer a.Close()

	asker := actor.NewAsker(a.Ref())
	sum := 0
	for i := range 10 {
		v, err := asker.Ask(ctx, i)
		if err != nil {
			fmt.Println(err)
			return
		}
		sum += v
	}
	fmt.Println(sum)
	// Output: 285
}

// A supervisor restarts a failing child with a fresh behaviour; its Ref
// stays valid and its mailbox keeps what waited in it.
func ExampleSupervise() {
	ctx := context.Background()
	out := make(chan string, 10)
	counter := actor.NewChild("counter", func() actor.Behavior[string] {
		n := 0 // fresh at each restart
		return actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
			if m == "boom" {
				return errors.New("boom")
			}
			n++
			out <- fmt.Sprint(m, " ", n)
			return nil
		})
	})
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{counter},
		actor.WithIntensity(3, time.Minute),              // give up after a 4th failure in a minute
		actor.WithBackoff(time.Millisecond, time.Second)) // wait 1ms, 2ms, 4ms... before restarts
	if err != nil {
		panic(err)
	}
	ref := counter.Ref()
	ref.Tell(ctx, "a")
	ref.Tell(ctx, "b")
	ref.Tell(ctx, "boom")
	ref.Tell(ctx, "c") // handled by the restarted child
	fmt.Println(<-out)
	fmt.Println(<-out)
	fmt.Println(<-out)
	fmt.Println(sup.Stop(ctx), ref.Stats().Restarts)
	// Output:
	// a 1
	// b 2
	// c 1
	// <nil> 1
}

// A supervision tree: a subtree of two children under the top supervisor.
// When a child of the subtree fails more often than the subtree allows, the
// failure goes up, and the top restarts the whole subtree: fresh behaviours,
// the same mailboxes, nothing told to them lost.
func ExampleNewSupervisor() {
	ctx := context.Background()
	out := make(chan string, 10)
	child := func(name string) *actor.Child[string] {
		return actor.NewChild(name, func() actor.Behavior[string] {
			return actor.BehaviorFunc[string](func(_ context.Context, m string) error {
				if m == "crash" {
					return errors.New(name + " crashed")
				}
				out <- name + " got " + m
				return nil
			})
		})
	}
	parser, writer := child("parser"), child("writer")
	io := actor.NewSupervisor("io", actor.OneForOne, []actor.ChildSpec{parser, writer},
		actor.WithIntensity(0, time.Second)) // the subtree restarts nothing itself
	top, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{io},
		actor.WithBackoff(0, 0))
	if err != nil {
		panic(err)
	}
	defer top.Stop(ctx)

	parser.Ref().Tell(ctx, "crash") // the subtree gives up; the top restarts it
	parser.Ref().Tell(ctx, "line 1")
	fmt.Println(<-out)
	fmt.Println("subtree restarts:", io.Restarts())
	// Output:
	// parser got line 1
	// subtree restarts: 1
}
