// Command composenode is one node of a map-reduce chain of load balancers
// in a process of its own, for the tests of pirate.Stage. Every node speaks
// tcp, uses heartbeats of 50 ms with a liveness of 10 s (the tests'
// steadyBeat: a stalled node buries no live peer; a killed one is found by
// its connection's end), and stops on SIGINT.
//
//	composenode broker WORKERS
//	    A LoadBalancer on free loopback ports. It prints "ENDPOINTS FRONT
//	    BACK", then "WORKERS n" once WORKERS workers have registered, and on
//	    SIGINT "STATS requests=.. replies=.. requeued=.. dead=.. abandoned=..
//	    duplicates=.." before it exits.
//	composenode map BACKEND DOWNSTREAM [HANG_AFTER]
//	    A pirate.Stage: a worker of BACKEND squaring each item and a client
//	    of DOWNSTREAM. An item is the frames ID KEY X (X decimal) and goes
//	    downstream as ID KEY X². With HANG_AFTER, after that many items it
//	    prints "BUSY ID" on the next one and waits to be killed.
//	composenode reduce BACKEND
//	    A worker of BACKEND adding each item ID KEY V into KEY's total, once
//	    per ID (upstream is at least once), and replying ID KEY V TOTAL. A
//	    request "total" KEY is answered with KEY's total and item count.
//
// Every node prints "STARTED" once its sockets are up.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

var (
	beat      = pirate.WithHeartbeat(50*time.Millisecond, 200)
	reconnect = pirate.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "broker":
		err = runBroker(os.Args[2], sig)
	case (len(os.Args) == 4 || len(os.Args) == 5) && os.Args[1] == "map":
		err = runMap(os.Args[2], os.Args[3], os.Args[4:], sig)
	case len(os.Args) == 3 && os.Args[1] == "reduce":
		err = runReduce(os.Args[2], sig)
	default:
		err = fmt.Errorf("usage: composenode broker WORKERS | map BACKEND DOWNSTREAM [HANG_AFTER] | reduce BACKEND")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "composenode:", err)
		os.Exit(1)
	}
}

func runBroker(workers string, sig <-chan os.Signal) error {
	n, err := strconv.Atoi(workers)
	if err != nil {
		return err
	}
	b, err := pirate.NewLoadBalancer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", beat)
	if err != nil {
		return err
	}
	fmt.Println("STARTED")
	fmt.Println("ENDPOINTS", b.Frontend(), b.Backend())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if b.Wait(ctx, func(s pirate.Stats) bool { return s.Workers >= n }) == nil {
			fmt.Println("WORKERS", n)
		}
	}()
	<-sig
	cancel()
	wg.Wait()
	s := b.Stats()
	fmt.Printf("STATS requests=%d replies=%d requeued=%d dead=%d abandoned=%d duplicates=%d\n",
		s.Requests, s.Replies, s.Requeued, s.Dead, s.Abandoned, s.Duplicates)
	return b.Close()
}

func runMap(backend, downstream string, hang []string, sig <-chan os.Signal) error {
	hangAfter := -1
	if len(hang) == 1 {
		var err error
		if hangAfter, err = strconv.Atoi(hang[0]); err != nil {
			return err
		}
	}
	done := 0
	square := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) != 3 {
			return nil, fmt.Errorf("map: want ID KEY X, got %d frames", len(req))
		}
		if done == hangAfter {
			fmt.Printf("BUSY %s\n", req[0])
			<-ctx.Done()
			return nil, ctx.Err()
		}
		done++
		x, err := strconv.ParseInt(string(req[2]), 10, 64)
		if err != nil {
			return nil, err
		}
		return [][]byte{req[0], req[1], []byte(strconv.FormatInt(x*x, 10))}, nil
	}
	// The downstream client waits as long as the test would for a reply
	// that comes at once: a resend would count twice at the reduce pirate.
	s, err := pirate.NewStage(backend, square, downstream, beat, reconnect,
		pirate.WithTimeout(time.Minute), pirate.WithRetries(2))
	if err != nil {
		return err
	}
	fmt.Println("STARTED")
	<-sig
	return s.Close()
}

func runReduce(backend string, sig <-chan os.Signal) error {
	seen := map[string]bool{}
	total := map[string]int64{}
	count := map[string]int64{}
	add := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) == 2 && string(req[0]) == "total" {
			k := string(req[1])
			return [][]byte{[]byte(strconv.FormatInt(total[k], 10)), []byte(strconv.FormatInt(count[k], 10))}, nil
		}
		if len(req) != 3 {
			return nil, fmt.Errorf("reduce: want ID KEY V, got %d frames", len(req))
		}
		v, err := strconv.ParseInt(string(req[2]), 10, 64)
		if err != nil {
			return nil, err
		}
		k := string(req[1])
		if id := string(req[0]); !seen[id] {
			seen[id] = true
			total[k] += v
			count[k]++
		}
		return [][]byte{req[0], req[1], req[2], []byte(strconv.FormatInt(total[k], 10))}, nil
	}
	w, err := pirate.NewWorker(backend, add, beat, reconnect)
	if err != nil {
		return err
	}
	fmt.Println("STARTED")
	<-sig
	return w.Close()
}
