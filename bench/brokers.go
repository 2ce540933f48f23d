package main

// The broker cases: request-reply through a broker over loopback tcp, with
// -workers workers echoing and -clients clients making -requests requests
// in all. Each case has three processes: the broker, which binds and prints
// "READY <frontend> <backend>" (Majordomo's one endpoint twice, or once from
// the python broker), then "WORKERS <n>" once n workers have registered; the
// workers, all in one process; and the clients, all in one process, which
// measure and print "RESULT <json>". The broker and the workers run until
// the command closes their stdin.
//
// lb/tcp/16B is the guide's load-balancing broker (ch. 3, lbbroker): ours
// (pirate.LoadBalancer, Worker, Client), the guide's loop on our raw ROUTER
// and REQ sockets ("raw"), and the same in C on libzmq ("libzmq-c",
// libzmqc.c). mdp/tcp/16B is Majordomo (ch. 4, spec 7/MDP): ours
// (majordomo.Broker, Worker, Client), and the python port of the guide's
// mdbroker (broker/majordomo/testdata/mdpbroker.py) with our workers and clients.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// The broker cases' defaults, and the service Majordomo workers offer.
const (
	defaultWorkers  = 4
	defaultClients  = 8
	defaultRequests = 20000
	mdpService      = "echo"
	python          = "/usr/bin/python3" // Debian's, with pyzmq
	// The python port of the guide's mdbroker that the broker package's
	// interop tests run, from bench/.
	defaultMDPBrokerPy = "../broker/majordomo/testdata/mdpbroker.py"
)

// brokerPeer runs one process of a broker case: role "lb-" or "mdp-", then
// "broker", "workers" or "clients".
func brokerPeer(a peerArgs) error {
	if a.size < 8 {
		return fmt.Errorf("broker cases: -size %d, need 8 bytes for the request's number", a.size)
	}
	roles := map[string]func(peerArgs) error{
		"ours/lb-broker":      oursLBBroker,
		"ours/lb-workers":     oursLBWorkers,
		"ours/lb-clients":     oursLBClients,
		"raw/lb-broker":       rawLBBroker,
		"raw/lb-workers":      rawLBWorkers,
		"raw/lb-clients":      rawLBClients,
		"ours-req/lb-broker":  oursLBBroker,
		"ours-req/lb-workers": rawLBWorkers,
		"ours-req/lb-clients": rawLBClients,
		"libzmq-c/lb-broker":  cLBBroker,
		"libzmq-c/lb-workers": cLBWorkers,
		"libzmq-c/lb-clients": cLBClients,
		"ours/mdp-broker":     oursMDPBroker,
		"ours/mdp-workers":    oursMDPWorkers,
		"ours/mdp-clients":    oursMDPClients,
		"python/mdp-broker":   pythonMDPBroker,
		"python/mdp-workers":  oursMDPWorkers,
		"python/mdp-clients":  oursMDPClients,
	}
	f, ok := roles[a.impl.name+"/"+a.role]
	if !ok {
		return fmt.Errorf("no role %q for %s", a.role, a.impl.name)
	}
	return f(a)
}

// echo is the workers' handler: the reply is the request.
func echoHandler(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil }

// roundTrip sends one request and returns its reply, of one frame.
type roundTrip func(ctx context.Context, body []byte) ([]byte, error)

func oneFrame(m [][]byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("reply of %d frames, want 1", len(m))
	}
	return m[0], nil
}

// measureClients makes a.requests requests in all through the clients, one
// round trip at a time each, after one round trip each that waits for the
// connections and is not counted. Each request's body is its number and
// the payload, so a reply is known to be its own.
func measureClients(a peerArgs, rts []roundTrip) error {
	ctx := context.Background()
	run := func(rt roundTrip, total uint64, next *atomic.Uint64, lat []int64) error {
		body := payload(a.size)
		for {
			i := next.Add(1) - 1
			if i >= total {
				return nil
			}
			binary.BigEndian.PutUint64(body, i)
			t0 := time.Now()
			r, err := rt(ctx, body)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			if !bytes.Equal(r, body) {
				return fmt.Errorf("request %d: reply %q, want %q", i, r, body)
			}
			lat[i] = d.Nanoseconds()
		}
	}
	all := func(f func(rt roundTrip) error) error {
		var wg sync.WaitGroup
		errs := make([]error, len(rts))
		for i, rt := range rts {
			wg.Go(func() { errs[i] = f(rt) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := all(func(rt roundTrip) error {
		var next atomic.Uint64
		return run(rt, 1, &next, make([]int64, 1))
	}); err != nil {
		return fmt.Errorf("first requests: %w", err)
	}
	var next atomic.Uint64
	lat := make([]int64, a.requests)
	start := time.Now()
	if err := all(func(rt roundTrip) error { return run(rt, uint64(a.requests), &next, lat) }); err != nil {
		return err
	}
	return reportLatencies(lat, time.Since(start))
}

// reportLatencies reports the rate and the 50th and 99th percentiles
// (nearest rank) of the round trips' latencies, in ns.
func reportLatencies(lat []int64, elapsed time.Duration) error {
	s := slices.Clone(lat)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return float64(s[max(i, 0)]) / 1e3
	}
	return report(result{Msgs: uint64(len(s)), Seconds: elapsed.Seconds(), P50Us: rank(0.50), P99Us: rank(0.99)})
}

// announceWorkers prints "WORKERS n" once wait returns, in a goroutine
// that the returned function stops and waits for.
func announceWorkers(n int, wait func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if wait(ctx) == nil {
			fmt.Printf("WORKERS %d\n", n)
		}
	}()
	return func() { cancel(); <-done }
}

// ---- ours: packages broker/pirate and broker, default options.

func oursLBBroker(a peerArgs) error {
	lb, err := pirate.NewLoadBalancer(a.ep, a.ep)
	if err != nil {
		return err
	}
	fmt.Printf("READY %s %s\n", lb.Frontend(), lb.Backend())
	stop := announceWorkers(a.workers, func(ctx context.Context) error {
		return lb.Wait(ctx, func(s pirate.Stats) bool { return s.Workers >= a.workers })
	})
	a.waitRelease()
	stop()
	if s := lb.Stats(); s.Duplicates+s.Requeued+s.Dead > 0 {
		fmt.Fprintf(os.Stderr, "note: load balancer stats %+v\n", s)
	}
	return lb.Close()
}

func oursLBWorkers(a peerArgs) error {
	var ws []*pirate.Worker
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	for range a.workers {
		w, err := pirate.NewWorker(a.ep, echoHandler)
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	a.waitRelease()
	return nil
}

func oursLBClients(a peerArgs) error {
	var rts []roundTrip
	var cs []*pirate.Client
	defer func() {
		for _, c := range cs {
			if s := c.Stats(); s.Resends > 0 {
				fmt.Fprintf(os.Stderr, "note: client resent %d requests\n", s.Resends)
			}
			c.Close()
		}
	}()
	for range a.clients {
		c, err := pirate.NewClient(a.ep)
		if err != nil {
			return err
		}
		cs = append(cs, c)
		rts = append(rts, func(ctx context.Context, b []byte) ([]byte, error) { return oneFrame(c.Request(ctx, b)) })
	}
	return measureClients(a, rts)
}

func oursMDPBroker(a peerArgs) error {
	b, err := majordomo.NewBroker(a.ep)
	if err != nil {
		return err
	}
	fmt.Printf("READY %s %s\n", b.Endpoint(), b.Endpoint())
	stop := announceWorkers(a.workers, func(ctx context.Context) error {
		return b.Wait(ctx, func(s majordomo.Stats) bool { return s.Workers >= a.workers })
	})
	a.waitRelease()
	stop()
	return b.Close()
}

func oursMDPWorkers(a peerArgs) error {
	var ws []*majordomo.Worker
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	for range a.workers {
		w, err := majordomo.NewWorker(a.ep, mdpService, echoHandler)
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	a.waitRelease()
	return nil
}

func oursMDPClients(a peerArgs) error {
	var rts []roundTrip
	var cs []*majordomo.Client
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	// One client per concurrent caller: an MDPClient's requests go one at
	// a time.
	for range a.clients {
		c, err := majordomo.NewClient(a.ep)
		if err != nil {
			return err
		}
		cs = append(cs, c)
		rts = append(rts, func(ctx context.Context, b []byte) ([]byte, error) {
			return oneFrame(c.Request(ctx, mdpService, b))
		})
	}
	return measureClients(a, rts)
}

// pythonMDPBroker becomes the python port of the guide's mdbroker (same
// process, so the command counts its CPU time), with our heartbeat
// defaults, which our workers use. It prints READY and WORKERS itself and
// exits when stdin ends.
func pythonMDPBroker(a peerArgs) error {
	if _, err := os.Stat(a.script); err != nil {
		return fmt.Errorf("the python Majordomo broker (-mdpbroker-py; run the bench command from bench/): %w", err)
	}
	args := []string{"python3", a.script, a.ep,
		fmt.Sprint(majordomo.DefaultHeartbeatInterval.Milliseconds()), fmt.Sprint(majordomo.DefaultLiveness)}
	return syscall.Exec(python, args, os.Environ())
}

// ---- raw: the guide's lbbroker, lbworker and REQ clients on package socket.

// rawLBBroker is the guide's lbbroker on two of our ROUTERs: a queue of idle
// workers, and the frontend read only while one is idle. Package socket has
// no poller, so each socket has a reader goroutine and this loop selects on
// them; the frontend's reader reads one request per token, and there is a
// token for each idle worker.
func rawLBBroker(a peerArgs) error {
	front, err := socket.New(socket.Router)
	if err != nil {
		return err
	}
	defer front.Close()
	back, err := socket.New(socket.Router)
	if err != nil {
		return err
	}
	defer back.Close()
	fep, err := front.Bind(a.ep)
	if err != nil {
		return err
	}
	bep, err := back.Bind(a.ep)
	if err != nil {
		return err
	}
	fmt.Printf("READY %s %s\n", fep, bep)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	fromBack, fromFront := make(chan socket.Msg), make(chan socket.Msg)
	tokens := make(chan struct{}, 1024)
	read := func(s *socket.Socket, out chan<- socket.Msg, gate <-chan struct{}) {
		for {
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return
				}
			}
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}
	wg.Go(func() { read(back, fromBack, nil) })
	wg.Go(func() { read(front, fromFront, tokens) })
	released := make(chan struct{})
	go func() { a.waitRelease(); close(released) }()

	var idle [][]byte // routing ids of idle workers, least recently used first
	credit, ready := 0, 0
	for {
		for credit < len(idle) && len(tokens) < cap(tokens) {
			tokens <- struct{}{}
			credit++
		}
		select {
		case m := <-fromBack: // [worker, "", "READY"] or [worker, "", client, "", reply]
			switch {
			case len(m) == 3 && len(m[1]) == 0 && string(m[2]) == "READY":
				if ready++; ready == a.workers {
					fmt.Printf("WORKERS %d\n", ready)
				}
			case len(m) == 5 && len(m[1]) == 0:
				if err := front.Send(ctx, socket.Msg{m[2], nil, m[4]}); err != nil {
					return err
				}
			default:
				continue
			}
			idle = append(idle, m[0])
		case m := <-fromFront: // [client, "", request]
			credit--
			if len(m) != 3 || len(m[1]) != 0 {
				continue
			}
			w := idle[0]
			idle = idle[1:]
			if err := back.Send(ctx, socket.Msg{w, nil, m[0], nil, m[2]}); err != nil {
				return err
			}
		case <-released:
			return nil
		}
	}
}

// rawLBWorkers runs the guide's lbworker on REQ sockets: READY, then each
// request ([client, "", body], the REQ having taken off the broker's
// delimiter) sent back as it came.
func rawLBWorkers(a peerArgs) error {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var socks []*socket.Socket
	defer func() {
		cancel()
		wg.Wait()
		for _, s := range socks {
			s.Close()
		}
	}()
	errs := make(chan error, a.workers)
	for range a.workers {
		s, err := socket.New(socket.Req)
		if err != nil {
			return err
		}
		socks = append(socks, s)
		if err := s.Connect(a.ep); err != nil {
			return err
		}
		wg.Go(func() {
			m := socket.Msg{[]byte("READY")}
			for {
				if err := s.Send(ctx, m); err != nil {
					errs <- err
					return
				}
				var err error
				if m, err = s.Recv(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	a.waitRelease()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func rawLBClients(a peerArgs) error {
	var rts []roundTrip
	var socks []*socket.Socket
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	for range a.clients {
		s, err := socket.New(socket.Req)
		if err != nil {
			return err
		}
		socks = append(socks, s)
		if err := s.Connect(a.ep); err != nil {
			return err
		}
		rts = append(rts, func(ctx context.Context, b []byte) ([]byte, error) {
			if err := s.Send(ctx, socket.Msg{b}); err != nil {
				return nil, err
			}
			m, err := s.Recv(ctx)
			return oneFrame(m, err)
		})
	}
	return measureClients(a, rts)
}
