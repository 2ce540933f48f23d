// Lbbroker is the load-balancing broker of "ZeroMQ - The Guide", chapter 3,
// "A Load Balancing Message Broker" (the guide's lbbroker), in Go: one
// program that starts a broker, clients and workers, each client a REQ
// socket that sends "HELLO", each worker a REQ socket that says "READY" and
// then answers requests with "OK". The broker keeps a queue of idle workers,
// reads its clients only while a worker is idle, and gives each request to
// the worker that has been idle longest.
//
// The clients and workers are goroutines here, on ipc:// endpoints as in the
// guide (-transport inproc or tcp to change that); with -clients 0 and
// -workers 0 the program is the broker alone, for peers of your own, and
// with -clients 0 the broker and its workers serve other processes'
// clients; both run until interrupted. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	nClients  = flag.Int("clients", 10, "client goroutines, one request each")
	nWorkers  = flag.Int("workers", 3, "worker goroutines")
	transport = flag.String("transport", "ipc", "ipc, inproc or tcp")
	frontend  = flag.String("frontend", "", "the clients' endpoint (default per transport)")
	backend   = flag.String("backend", "", "the workers' endpoint (default per transport)")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lbbroker: unexpected argument %q: lbbroker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *nClients < 0 || *nWorkers < 0 {
		fmt.Fprintln(os.Stderr, "lbbroker: -clients and -workers must be at least 0")
		os.Exit(2)
	}
	fe, be, err := endpoints()
	if err != nil { // a bad command line, as the counts above
		fmt.Fprintln(os.Stderr, "lbbroker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, fe, be); err != nil {
		fmt.Fprintln(os.Stderr, "lbbroker:", err)
		os.Exit(1)
	}
}

func endpoints() (string, string, error) {
	fe, be := *frontend, *backend
	var dfe, dbe string
	switch *transport {
	case "ipc":
		dfe, dbe = "ipc://frontend.ipc", "ipc://backend.ipc"
	case "inproc":
		dfe, dbe = "inproc://frontend", "inproc://backend"
	case "tcp":
		dfe, dbe = "tcp://127.0.0.1:5672", "tcp://127.0.0.1:5673"
	default:
		return "", "", fmt.Errorf("-transport %q: want ipc, inproc or tcp", *transport)
	}
	if fe == "" {
		fe = dfe
	}
	if be == "" {
		be = dbe
	}
	return fe, be, nil
}

func run(ctx context.Context, fe, be string) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	// The guide's lbbroker heartbeats nobody: its workers are REQ sockets,
	// which the load balancer serves without heartbeats.
	lb, err := pirate.NewLoadBalancer(fe, be)
	if err != nil {
		return err
	}
	defer lb.Close()
	if *nClients == 0 && *nWorkers == 0 {
		fmt.Printf("I: clients on %s, workers on %s; Ctrl-C to stop\n", lb.Frontend(), lb.Backend())
		<-ctx.Done()
		return nil
	}

	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var workers sync.WaitGroup
	for i := range *nWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			if err := worker(wctx, lb.Backend(), fmt.Sprintf("worker-%d", i)); err != nil && wctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "lbbroker:", err)
			}
		}()
	}
	if *nClients == 0 {
		// Broker and workers only: they serve clients of other processes
		// (the guide's client_task, say) until interrupted.
		fmt.Printf("I: clients on %s, workers on %s; Ctrl-C to stop\n", lb.Frontend(), lb.Backend())
		<-ctx.Done()
		stopWorkers()
		workers.Wait()
		// The broker publishes its counts after sending a reply, so a
		// client may have its reply before the count: once the broker
		// has ended, they are final.
		lb.Close()
		s := lb.Stats()
		fmt.Printf("I: %d requests, %d replies\n", s.Requests, s.Replies)
		return nil
	}
	var clients sync.WaitGroup
	errs := make(chan error, *nClients)
	for i := range *nClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			errs <- client(ctx, lb.Frontend(), fmt.Sprintf("client-%d", i))
		}()
	}
	clients.Wait()
	stopWorkers()
	workers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	// The broker counts a reply just after sending it: wait for the count
	// to catch up with what the clients got.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lb.Wait(wctx, func(s pirate.Stats) bool { return s.Replies >= uint64(*nClients) })
	s := lb.Stats()
	fmt.Printf("I: %d requests, %d replies\n", s.Requests, s.Replies)
	return nil
}

// client sends one HELLO and prints the reply, as the guide's client_task.
func client(ctx context.Context, ep, name string) error {
	s, err := socket.New(socket.Req, socket.WithIdentity([]byte(name)), socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Connect(ep); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Send(ctx, socket.NewMsgString("HELLO")); err != nil {
		return err
	}
	reply, err := s.Recv(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("Client: %s\n", reply[0])
	return nil
}

// worker says READY, then answers each request with OK, as the guide's
// worker_task: a REQ socket whose every reply is also its next "ready".
func worker(ctx context.Context, ep, name string) error {
	s, err := socket.New(socket.Req, socket.WithIdentity([]byte(name)), socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Connect(ep); err != nil {
		return err
	}
	if err := s.Send(ctx, socket.NewMsgString("READY")); err != nil {
		return err
	}
	for {
		// [client address, "", request]
		m, err := s.Recv(ctx)
		if err != nil {
			return err
		}
		if len(m) != 3 {
			return fmt.Errorf("%s: request of %d frames: %v", name, len(m), m)
		}
		fmt.Printf("Worker: %s\n", m[2])
		if err := s.Send(ctx, socket.Msg{m[0], nil, []byte("OK")}); err != nil {
			return err
		}
	}
}
