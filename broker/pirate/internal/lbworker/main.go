// Command lbworker is a pirate.Worker in a process of its own, for the
// tests that kill a worker mid-request. It connects to the load balancer's
// backend given as its argument and replies to each request with "pid
// PID" and the request. A request whose body starts with "hang" makes it
// print "BUSY <body>" on standard output and wait until it is killed; the
// test kills it then.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// beat is the tests' steadyBeat: heartbeats every 50 ms, and 10 s of
// silence before the broker counts as gone, so that a stalled test does not
// make this worker give its broker up.
var beat = pirate.WithHeartbeat(50*time.Millisecond, 200)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lbworker BACKEND_ENDPOINT")
		os.Exit(2)
	}
	pid := []byte(fmt.Sprint("pid ", os.Getpid()))
	w, err := pirate.NewWorker(os.Args[1], func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) > 0 && bytes.HasPrefix(req[0], []byte("hang")) {
			fmt.Printf("BUSY %s\n", req[0])
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return append([][]byte{pid}, req...), nil
	}, beat, pirate.WithReconnect(50*time.Millisecond, 400*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("STARTED")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	w.Close()
}
