// Command distworker is a distributor.Worker in a process of its own, for
// the tests that kill or freeze a worker mid-batch. Its arguments are a
// demand-driven Distributor's task, results and control endpoints and the
// worker's credit. It prints "STARTED" once its worker runs; each task it
// takes makes it print "BUSY <task>" on standard output and wait until it
// is interrupted, stopped or killed, with the tasks after the first held
// in its queue.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/zmqflow/zmqflow/broker/distributor"
)

// beat is the tests' steadyBeat: heartbeats every 50 ms, and 10 s of
// silence before the distributor counts as gone, so that a stalled test
// does not make this worker say READY again.
var beat = distributor.WithHeartbeat(50*time.Millisecond, 200)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: distworker TASKS RESULTS CONTROL CREDIT")
		os.Exit(2)
	}
	credit, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	eps := distributor.Endpoints{Tasks: os.Args[1], Results: os.Args[2], Control: os.Args[3]}
	w, err := distributor.NewWorker(eps, func(ctx context.Context, task []byte) ([]byte, error) {
		fmt.Printf("BUSY %s\n", task)
		<-ctx.Done()
		return nil, ctx.Err()
	}, distributor.WithCredit(credit), beat)
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
