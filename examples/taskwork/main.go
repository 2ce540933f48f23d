// Taskwork is the task worker of "ZeroMQ - The Guide", chapter 1, "Divide
// and Conquer", with the kill signal of chapter 2, "Handling Errors and
// ETERM", in Go. It pulls tasks from the ventilator, does each (it sleeps the
// task's workload), pushes a result to the sink, and exits when the sink
// publishes KILL at the end of the batch.
//
// Start as many as you like, after the sink and before the ventilator: see
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	ventEP   = flag.String("vent", "tcp://localhost:5557", "the ventilator, where tasks come from")
	sinkEP   = flag.String("sink", "tcp://localhost:5558", "the sink, where results go")
	killEP   = flag.String("kill", "tcp://localhost:5559", `the sink's kill signal; "" for none (the chapter 1 worker, which runs until Ctrl-C)`)
	name     = flag.String("name", defaultName(), "sent with each result, so that the sink can tell who did what")
	slowdown = flag.Float64("slowdown", 1, "multiply each workload by this, to play a slower machine")
)

// maxSleep is the longest a task may sleep, -slowdown included: far past
// the guide's workloads (1 to 100 ms), and far short of what overflows
// a time.Duration.
const maxSleep = 24 * time.Hour

// errKilled is why the worker stops when the sink says so.
var errKilled = errors.New("KILL received")

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "taskwork: unexpected argument %q: taskwork takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if !(*slowdown > 0) { // NaN too
		fmt.Fprintln(os.Stderr, "taskwork: -slowdown must be more than 0")
		os.Exit(2)
	}
	// Ctrl-C cancels ctx, and with it every blocking call below. A second
	// Ctrl-C kills the program at once, as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "taskwork:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	// Workers connect, upstream to the ventilator and downstream to the
	// sink: they are the dynamic part of the network, and adding one changes
	// nothing anywhere else.
	receiver, err := socket.New(socket.Pull)
	if err != nil {
		return err
	}
	defer receiver.Close()
	sender, err := socket.New(socket.Push)
	if err != nil {
		return err
	}
	// Close lingers until the last result is out, even after Ctrl-C.
	defer sender.Close()
	events := []<-chan socket.Event{receiver.Monitor(), sender.Monitor()}
	peers := []string{"the ventilator", "the sink"}
	endpoints := []string{*ventEP, *sinkEP}
	if err := receiver.Connect(*ventEP); err != nil {
		return err
	}
	if err := sender.Connect(*sinkEP); err != nil {
		return err
	}

	// The kill signal: the sink publishes KILL when the batch is done, and
	// every worker subscribed to it stops. It is a third socket, because
	// PUSH and PULL only go one way, and PUB reaches every worker at once.
	ctx, kill := context.WithCancelCause(ctx)
	defer kill(nil)
	if *killEP != "" {
		controller, err := socket.New(socket.Sub)
		if err != nil {
			return err
		}
		defer controller.Close()
		events = append(events, controller.Monitor())
		peers = append(peers, "the kill signal")
		endpoints = append(endpoints, *killEP)
		if err := controller.Subscribe([]byte("KILL")); err != nil {
			return err
		}
		if err := controller.Connect(*killEP); err != nil {
			return err
		}
		// Where the guide polls both sockets in one loop, Go gives the kill
		// signal its own goroutine. KILL cancels the context that every
		// blocking call of the work loop takes, so the loop ends at once,
		// even in the middle of a task or a Recv.
		go func() {
			if _, err := controller.Recv(ctx); err == nil {
				kill(errKilled)
			}
		}()
	}

	// Say when every socket has reached its peer: this is what the
	// ventilator's "Press Enter when the workers are ready" waits for. A
	// peer still absent after waitSaid is said once, as the ventilator
	// says it waits (else a worker started first says nothing at all). It
	// only informs; tasks are done as they come either way.
	go func() {
		if connected(ctx, waitSaid, func(absent []int) {
			var who []string
			for _, i := range absent {
				who = append(who, peers[i]+" at "+endpoints[i])
			}
			fmt.Printf("Worker %s waiting for %s...\n", *name, list(who))
		}, events...) {
			fmt.Printf("Worker %s ready: connected to %s\n", *name, list(peers))
		}
	}()

	done := 0
	for {
		m, err := receiver.Recv(ctx)
		if err != nil {
			break // ctx ended: KILL or Ctrl-C
		}
		ms, err := strconv.Atoi(strings.TrimSpace(string(m[0])))
		if err != nil || ms < 0 {
			fmt.Fprintf(os.Stderr, "taskwork: ignoring a task that is not a workload: %s\n", m)
			continue
		}
		// A workload near the integer maximum would overflow the sleep's
		// time.Duration, and the task would run at once: refuse it.
		sleepMS := float64(ms) * *slowdown
		if sleepMS > float64(maxSleep/time.Millisecond) {
			at := ""
			if *slowdown != 1 {
				at = fmt.Sprintf(" at -slowdown %g", *slowdown)
			}
			fmt.Fprintf(os.Stderr, "taskwork: ignoring a task of %d ms%s: bad input, the most a task may sleep is %v\n", ms, at, maxSleep)
			continue
		}
		// Do the work.
		if sleep(ctx, time.Duration(sleepMS*float64(time.Millisecond))) != nil {
			break
		}
		// Send the result to the sink. The guide's result is empty; ours
		// carries the worker's name, so that the sink can show how the
		// tasks were spread. The guide's sink ignores what a result holds.
		if err := sender.Send(ctx, socket.NewMsgString(*name)); err != nil {
			break
		}
		// Progress, for the viewer. Send has queued the result, which is
		// not yet delivered: a worker killed now still loses it.
		done++
		fmt.Print(".")
	}
	fmt.Println()
	tasks := "tasks"
	if done == 1 {
		tasks = "task"
	}
	if errors.Is(context.Cause(ctx), errKilled) {
		fmt.Printf("Worker %s: KILL received after %d %s\n", *name, done, tasks)
	} else {
		fmt.Printf("Worker %s: interrupted after %d %s\n", *name, done, tasks)
	}
	return nil
}

// waitSaid is how long a peer may take to connect before the worker says
// it waits for it: a peer that is up is reached well within it.
const waitSaid = time.Second

// connected reports whether each socket's monitor has seen a handshake
// succeed, waiting until ctx ends. If some have not after wait, it calls
// waiting once with their indexes.
func connected(ctx context.Context, wait time.Duration, waiting func(absent []int), events ...<-chan socket.Event) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ups := make(chan int, len(events))
	for i, ch := range events {
		go func() {
			for {
				select {
				case ev, ok := <-ch:
					if !ok {
						return // the socket closed
					}
					if ev.Kind == socket.EventHandshakeOK {
						ups <- i
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	up := make([]bool, len(events))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for n := 0; n < len(events); {
		select {
		case i := <-ups:
			up[i] = true
			n++
		case <-timer.C:
			var absent []int
			for i := range up {
				if !up[i] {
					absent = append(absent, i)
				}
			}
			waiting(absent)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// list is names as a sentence: "a", "a and b", "a, b and c".
func list(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	last := len(names) - 1
	return strings.Join(names[:last], ", ") + " and " + names[last]
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// defaultName is host-pid: unique enough among workers on many machines.
func defaultName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
