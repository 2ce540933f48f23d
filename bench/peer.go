package main

// The peer processes: the command runs itself with the hidden subcommand
// peerCmd once per side of a measurement. A side that binds prints
// "READY <endpoint>"; the side that measures prints "RESULT <json>".

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

const peerCmd = "__peer"

// result is what a measuring peer reports.
type result struct {
	Msgs    uint64  `json:"msgs"`    // messages (throughput) or round trips (latency)
	Seconds float64 `json:"seconds"` // from the first message received to the end marker
	// The idle case: resident memory (KB) before the peers and once idle.
	RSSBeforeKB int64 `json:"rss_before_kb,omitempty"`
	RSSAfterKB  int64 `json:"rss_after_kb,omitempty"`
	// The broker cases: round-trip latency percentiles, µs.
	P50Us float64 `json:"p50_us,omitempty"`
	P99Us float64 `json:"p99_us,omitempty"`
}

// endMarker ends a throughput run: 8 bytes of the count sent, then "END".
// Its length (11) differs from every measured size, so the receiver knows it.
const endMarkerLen = 11

var stopMsg = []byte("STOP") // ends a REP peer (length differs from 16)

type peerArgs struct {
	role     string
	impl     impl
	ep       string
	size     int // message size; for the idle case, the number of peers
	duration time.Duration
	count    uint64
	// holdOpen: before closing its socket, wait until stdin ends. The
	// command closes it once the other process is done, so that no message
	// depends on linger (libzmq's ipc drops queued messages on close now and
	// then, linger or not: libzmq issue 4660).
	holdOpen  bool
	heartbeat bool // ZMTP heartbeats on (hbInterval, hbTimeout)
	// The broker cases (brokers.go).
	workers, clients, requests int
	script                     string // the python Majordomo broker
}

// waitRelease returns once the command says the peer is done with us.
func (a peerArgs) waitRelease() {
	if a.holdOpen {
		io.Copy(io.Discard, os.Stdin)
	}
}

func peerMain(args []string) int {
	fs := flag.NewFlagSet(peerCmd, flag.ContinueOnError)
	var a peerArgs
	var implName, cpuprofile string
	fs.StringVar(&a.role, "role", "", "pull, push, rep, req, pushpull (one process), reqrep (one process), router or dealers (idle), lb- or mdp- and broker, workers or clients")
	fs.StringVar(&implName, "impl", "", "ours, libzmq or zmq4")
	fs.StringVar(&a.ep, "ep", "", "endpoint to bind or connect")
	fs.IntVar(&a.size, "size", 16, "message size in bytes")
	fs.DurationVar(&a.duration, "duration", 2*time.Second, "how long the sender sends")
	fs.Uint64Var(&a.count, "count", 0, "send this many messages instead of sending for -duration")
	fs.BoolVar(&a.holdOpen, "hold", false, "wait for stdin to end before closing the socket")
	fs.BoolVar(&a.heartbeat, "hb", false, "turn on ZMTP heartbeats")
	fs.BoolVar(&curveOn, "curve", false, "CURVE security: PULL is the server, PUSH the client (curve.go)")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of this process here")
	fs.IntVar(&a.workers, "workers", defaultWorkers, "broker cases: workers")
	fs.IntVar(&a.clients, "clients", defaultClients, "broker cases: clients")
	fs.IntVar(&a.requests, "requests", defaultRequests, "broker cases: requests in all")
	fs.StringVar(&a.script, "mdpbroker-py", defaultMDPBrokerPy, "broker cases: the python Majordomo broker")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	im, ok := findImpl(implName)
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown implementation %q\n", implName)
		return 2
	}
	a.impl = im
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := runPeer(a); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", a.impl.name, a.role, err)
		return 1
	}
	return 0
}

func runPeer(a peerArgs) error {
	if a.role == "tell-recv" || a.role == "tell-send" {
		return tellPeer(a)
	}
	if strings.HasPrefix(a.role, "lb-") || strings.HasPrefix(a.role, "mdp-") {
		return brokerPeer(a)
	}
	if a.impl.native != nil {
		return a.impl.native(a)
	}
	switch a.role {
	case "pull":
		return withSocket(a, "pull", true, func(s sock) error { return receiveAndReport(s, a.size) })
	case "push":
		return withSocket(a, "push", false, func(s sock) error { return sendFor(s, a) })
	case "rep":
		return withSocket(a, "rep", true, func(s sock) error { return echo(s) })
	case "req":
		return withSocket(a, "req", false, func(s sock) error { return roundTripsAndReport(s, a) })
	case "pushpull":
		return inprocPair(a, "pull", "push",
			func(s sock) error { return receiveAndReport(s, a.size) },
			func(s sock) error { return sendFor(s, a) })
	case "reqrep":
		return inprocPair(a, "rep", "req",
			func(s sock) error { return echo(s) },
			func(s sock) error { return roundTripsAndReport(s, a) })
	case "router":
		return idleRouter(a)
	case "dealers":
		return idleDealers(a)
	}
	return fmt.Errorf("unknown role %q", a.role)
}

// withSocket opens one socket, binds (announcing READY) or connects it, runs
// f, closes the socket and lets the implementation finish its sends.
func withSocket(a peerArgs, kind string, bind bool, f func(sock) error) error {
	s, err := a.impl.open(kind, a.heartbeat)
	if err != nil {
		return err
	}
	if bind {
		ep, err := s.Bind(a.ep)
		if err != nil {
			s.Close()
			return fmt.Errorf("bind %s: %w", a.ep, err)
		}
		fmt.Printf("READY %s\n", ep)
	} else if err := s.Connect(a.ep); err != nil {
		s.Close()
		return fmt.Errorf("connect %s: %w", a.ep, err)
	}
	if err := f(s); err != nil {
		s.Close()
		return err
	}
	a.waitRelease()
	closeWarn(a, s.Close(), a.impl.finish())
	return nil
}

// inprocPair runs both sides in this process: the first socket binds a.ep,
// the second connects to it.
func inprocPair(a peerArgs, bindKind, connKind string, bound, connected func(sock) error) error {
	b, err := a.impl.open(bindKind, a.heartbeat)
	if err != nil {
		return err
	}
	ep, err := b.Bind(a.ep)
	if err != nil {
		b.Close()
		return fmt.Errorf("bind %s: %w", a.ep, err)
	}
	c, err := a.impl.open(connKind, a.heartbeat)
	if err != nil {
		b.Close()
		return err
	}
	if err := c.Connect(ep); err != nil {
		c.Close()
		b.Close()
		return fmt.Errorf("connect %s: %w", ep, err)
	}
	var wg sync.WaitGroup
	var cerr error
	wg.Go(func() { cerr = connected(c) })
	berr := bound(b)
	wg.Wait()
	if err := errors.Join(berr, cerr); err != nil {
		return err
	}
	closeWarn(a, c.Close(), b.Close(), a.impl.finish())
	return nil
}

// closeWarn reports errors from closing once the measurement is done: they
// do not void it (zmq4's sockets, for one, report errors from Close).
func closeWarn(a peerArgs, errs ...error) {
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %s %s: closing: %v\n", a.impl.name, a.role, err)
	}
}

func payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// sendFor sends a.size-byte messages for a.duration (or a.count of them),
// then the end marker with the count.
func sendFor(s sock, a peerArgs) error {
	body := payload(a.size)
	deadline := time.Now().Add(a.duration)
	var sent uint64
	for {
		batch := uint64(256)
		if a.count > 0 {
			batch = min(batch, a.count-sent)
		}
		for range batch {
			if err := s.Send(body); err != nil {
				return fmt.Errorf("send %d: %w", sent, err)
			}
			sent++
		}
		if a.count > 0 && sent >= a.count || a.count == 0 && time.Now().After(deadline) {
			break
		}
	}
	end := make([]byte, endMarkerLen)
	binary.BigEndian.PutUint64(end, sent)
	copy(end[8:], "END")
	return s.Send(end)
}

// receiveAndReport receives until the end marker and reports the rate from
// the first message to the marker.
func receiveAndReport(s sock, size int) error {
	b, err := s.Recv()
	if err != nil {
		return err
	}
	start := time.Now()
	if len(b) != size {
		return fmt.Errorf("first message of %d bytes, want %d", len(b), size)
	}
	n := uint64(1)
	for {
		b, err := s.Recv()
		if err != nil {
			return fmt.Errorf("recv after %d: %w", n, err)
		}
		if len(b) == size {
			n++
			continue
		}
		elapsed := time.Since(start)
		if len(b) != endMarkerLen || !bytes.Equal(b[8:], []byte("END")) {
			return fmt.Errorf("message of %d bytes, want %d", len(b), size)
		}
		if sent := binary.BigEndian.Uint64(b); sent != n {
			return fmt.Errorf("received %d messages, sender sent %d", n, sent)
		}
		return report(result{Msgs: n, Seconds: elapsed.Seconds()})
	}
}

func report(r result) error {
	j, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Printf("RESULT %s\n", j)
	return nil
}

// echo answers every request with itself, until the stop message.
func echo(s sock) error {
	for {
		b, err := s.Recv()
		if err != nil {
			return err
		}
		if bytes.Equal(b, stopMsg) {
			return nil // not answered: the requester has gone
		}
		if err := s.Send(b); err != nil {
			return err
		}
	}
}

// roundTripsAndReport makes 16-byte round trips for a.duration after a first
// one that waits for the connection, then stops the echoing peer.
func roundTripsAndReport(s sock, a peerArgs) error {
	body := payload(a.size)
	rt := func(m []byte) error {
		if err := s.Send(m); err != nil {
			return err
		}
		r, err := s.Recv()
		if err != nil {
			return err
		}
		if !bytes.Equal(r, m) {
			return fmt.Errorf("reply %q, want %q", r, m)
		}
		return nil
	}
	if err := rt(body); err != nil {
		return err
	}
	start := time.Now()
	var n uint64
	for {
		if err := rt(body); err != nil {
			return fmt.Errorf("round trip %d: %w", n, err)
		}
		n++
		if a.count > 0 && n >= a.count || a.count == 0 && time.Since(start) >= a.duration {
			break
		}
	}
	elapsed := time.Since(start)
	if err := report(result{Msgs: n, Seconds: elapsed.Seconds()}); err != nil {
		return err
	}
	// The peer ends on this without answering; closing lingers until it is out.
	return s.Send(stopMsg)
}
