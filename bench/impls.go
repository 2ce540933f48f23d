package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	gz "github.com/go-zeromq/zmq4"
	czmq "github.com/pebbe/zmq4"

	"github.com/zmqflow/zmqflow/socket"
)

// sock is the little each implementation has to offer the benchmark: single
// frame messages, one socket per goroutine.
type sock interface {
	// Bind listens on ep and returns the endpoint a peer can connect to
	// (for tcp the port the system picked).
	Bind(ep string) (string, error)
	Connect(ep string) error
	Send(b []byte) error
	Recv() ([]byte, error)
	// RecvMsg receives a message of any number of frames (ROUTER: the
	// peer's identity, then the body).
	RecvMsg() ([][]byte, error)
	Close() error
}

// impl is one implementation under test.
type impl struct {
	name  string // as on the command line
	label string // as in the table
	// open makes a socket: kind is "push", "pull", "req", "rep", "router"
	// or "dealer"; heartbeat turns on ZMTP heartbeats (hbInterval, hbTimeout).
	open func(kind string, heartbeat bool) (sock, error)
	// finish runs after the process's sockets are closed; it returns once
	// what they queued has gone out (libzmq terminates its context here).
	finish func() error
	// native, if set, runs a whole peer instead of the loops over sock.
	native func(a peerArgs) error
	// reserve, if set, makes room for n sockets in this process.
	reserve func(n int) error
	// actorsOnly: an actor framework, measured in the remote Tell case only,
	// by its peer command (peers/), built into peer when the run starts.
	actorsOnly bool
	peer       string
}

// The heartbeat cases' settings: a PING every 100 ms, a peer silent for a
// second after one is dropped; no TTL.
const (
	hbInterval = 100 * time.Millisecond
	hbTimeout  = time.Second
)

var impls = []impl{
	{name: "ours", label: "ours", open: openOurs, finish: func() error { return nil }},
	{name: "libzmq-c", label: "libzmq-c", native: runLibzmqC},
	{name: "libzmq", label: "libzmq (pebbe/zmq4)", open: openLibzmq, finish: czmq.Term,
		// A libzmq context holds 1023 sockets unless told otherwise.
		reserve: func(n int) error { return czmq.SetMaxSockets(n + 16) }},
	{name: "zmq4", label: "zmq4 sockets", open: openGz, finish: func() error { return nil }},
	{name: "actors", label: "ours, actors", native: runActorPeer},
	// The broker cases' own (brokers.go): the guide's lbbroker loop on our
	// sockets, and the python port of its mdbroker with our workers and
	// clients.
	{name: "raw", label: "raw sockets (lbbroker)"},
	// Our LoadBalancer with raw's REQ workers and clients: the broker
	// alone beside raw's loop, without our Worker and Client.
	{name: "ours-req", label: "ours, REQ peers"},
	{name: "python", label: "python mdbroker"},
	{name: "protoactor", label: "protoactor-go", actorsOnly: true},
	{name: "hollywood", label: "hollywood", actorsOnly: true},
}

func findImpl(name string) (impl, bool) {
	for _, im := range impls {
		if im.name == name {
			return im, true
		}
	}
	return impl{}, false
}

// ---- ours: github.com/zmqflow/zmqflow/socket, default options (HWM 1000).

type oursSock struct{ s *socket.Socket }

func openOurs(kind string, heartbeat bool) (sock, error) {
	t, err := socket.ParseType(kind)
	if err != nil {
		return nil, err
	}
	var opts []socket.Option
	if heartbeat {
		opts = append(opts, socket.WithHeartbeat(hbInterval, hbTimeout, 0))
	}
	if curveOn {
		o, err := oursCurve(kind)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	s, err := socket.New(t, opts...)
	if err != nil {
		return nil, err
	}
	return oursSock{s}, nil
}

func (o oursSock) Bind(ep string) (string, error) { return o.s.Bind(ep) }
func (o oursSock) Connect(ep string) error        { return o.s.Connect(ep) }
func (o oursSock) Close() error                   { return o.s.Close() }

func (o oursSock) Send(b []byte) error {
	return o.s.Send(context.Background(), socket.Msg{b})
}

func (o oursSock) Recv() ([]byte, error) {
	m, err := o.s.Recv(context.Background())
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("got %d frames, want 1", len(m))
	}
	return m[0], nil
}

func (o oursSock) RecvMsg() ([][]byte, error) { return o.s.Recv(context.Background()) }

// ---- libzmq through cgo (github.com/pebbe/zmq4), HWMs set to libzmq's
// defaults explicitly, so that all three queue the same when they can.

type libzmqSock struct{ s *czmq.Socket }

func openLibzmq(kind string, heartbeat bool) (sock, error) {
	types := map[string]czmq.Type{"push": czmq.PUSH, "pull": czmq.PULL, "req": czmq.REQ, "rep": czmq.REP,
		"router": czmq.ROUTER, "dealer": czmq.DEALER}
	t, ok := types[kind]
	if !ok {
		return nil, fmt.Errorf("libzmq: no socket kind %q", kind)
	}
	s, err := czmq.NewSocket(t)
	if err != nil {
		return nil, err
	}
	if err := s.SetSndhwm(socket.DefaultHWM); err != nil {
		return nil, err
	}
	if err := s.SetRcvhwm(socket.DefaultHWM); err != nil {
		return nil, err
	}
	if heartbeat {
		if err := s.SetHeartbeatIvl(hbInterval); err != nil {
			return nil, err
		}
		if err := s.SetHeartbeatTimeout(hbTimeout); err != nil {
			return nil, err
		}
	}
	if curveOn {
		if err := libzmqCurve(s, kind); err != nil {
			return nil, err
		}
	}
	return libzmqSock{s}, nil
}

func (l libzmqSock) Bind(ep string) (string, error) {
	if err := l.s.Bind(ep); err != nil {
		return "", err
	}
	return l.s.GetLastEndpoint()
}
func (l libzmqSock) Connect(ep string) error { return l.s.Connect(ep) }
func (l libzmqSock) Close() error            { return l.s.Close() }
func (l libzmqSock) Send(b []byte) error     { _, err := l.s.SendBytes(b, 0); return err }
func (l libzmqSock) Recv() ([]byte, error)   { return l.s.RecvBytes(0) }

func (l libzmqSock) RecvMsg() ([][]byte, error) { return l.s.RecvMessageBytes(0) }

// ---- zmq4's own socket types (github.com/go-zeromq/zmq4), defaults. They
// have no high-water mark on these types; nothing to set; and no heartbeats.

type gzSock struct{ s gz.Socket }

func openGz(kind string, heartbeat bool) (sock, error) {
	if heartbeat {
		return nil, fmt.Errorf("zmq4: no heartbeats")
	}
	ctx := context.Background()
	switch kind {
	case "push":
		return gzSock{gz.NewPush(ctx)}, nil
	case "pull":
		return gzSock{gz.NewPull(ctx)}, nil
	case "req":
		return gzSock{gz.NewReq(ctx)}, nil
	case "rep":
		return gzSock{gz.NewRep(ctx)}, nil
	}
	return nil, fmt.Errorf("zmq4: no socket kind %q", kind)
}

func (g gzSock) Bind(ep string) (string, error) {
	if rest, ok := strings.CutPrefix(ep, "tcp://"); ok {
		ep = "tcp://" + strings.Replace(rest, ":*", ":0", 1)
	}
	if err := g.s.Listen(ep); err != nil {
		return "", err
	}
	if strings.HasPrefix(ep, "tcp://") {
		return "tcp://" + g.s.Addr().String(), nil
	}
	return ep, nil
}
func (g gzSock) Connect(ep string) error { return g.s.Dial(ep) }
func (g gzSock) Close() error            { return g.s.Close() }
func (g gzSock) Send(b []byte) error     { return g.s.Send(gz.NewMsg(b)) }

func (g gzSock) Recv() ([]byte, error) {
	m, err := g.s.Recv()
	if err != nil {
		return nil, err
	}
	if len(m.Frames) != 1 {
		return nil, fmt.Errorf("got %d frames, want 1", len(m.Frames))
	}
	return m.Frames[0], nil
}

func (g gzSock) RecvMsg() ([][]byte, error) {
	m, err := g.s.Recv()
	return m.Frames, err
}
