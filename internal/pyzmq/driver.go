package pyzmq

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

//go:embed testdata/peer.py
var peerScript string

//go:embed testdata/proxy.py
var proxyScript string

// readyTimeout bounds how long a peer may take to start and bind.
const readyTimeout = 15 * time.Second

// driver is the test's side of testdata/peer.py's line protocol.
type driver struct {
	synced    int // SYNCED lines not yet matched by Sync
	endpoints []string
	msgs      [][][]byte // received, not yet returned by Recv
	events    []string   // monitor events, "NAME endpoint", not yet matched by WaitEvent
	seen      []string   // every monitor event, in order
}

// Socket starts a libzmq socket of type typ ("PUSH", "ROUTER", ...) in a
// Python process and waits until it has bound and connected. args are
// peer.py's options: --bind EP and --connect EP (each repeatable; a bind's
// endpoint may use port * and is resolved), --identity ID, --subscribe
// PREFIX, --heartbeat IVL,TIMEOUT (ms), --plain-client USER:PASS,
// --plain-server USER:PASS, --curve-server SECRET (Z85), --curve-allow DIR
// (certificates whose keys a CURVE server admits; without it, any),
// --curve-client SERVERPUB:PUB:SECRET (Z85, 40 characters each; pass keys
// as --flag=VALUE, since a Z85 key may start with "-"), --echo (send each
// message back instead of reporting it to Recv), --sockopt NAME=VALUE (any
// zmq_setsockopt option by its name without ZMQ_, set before the binds and
// connects: an integer VALUE as an int, anything else as bytes;
// repeatable).
func Socket(t testing.TB, typ string, args ...string) *Peer {
	t.Helper()
	p := Start(t, peerScript, append([]string{typ}, args...)...)
	p.name = "libzmq " + typ + " " + strings.Join(args, " ")
	p.ready(t)
	return p
}

// Proxy starts zmq.proxy between a libzmq XSUB and XPUB. xsubHow and xpubHow
// are "bind" or "connect". Endpoints returns the XSUB's then the XPUB's
// endpoint, binds resolved.
func Proxy(t testing.TB, xsubHow, xsubEP, xpubHow, xpubEP string) *Peer {
	t.Helper()
	p := Start(t, proxyScript, xsubHow, xsubEP, xpubHow, xpubEP)
	p.name = fmt.Sprintf("libzmq proxy XSUB %s %s, XPUB %s %s", xsubHow, xsubEP, xpubHow, xpubEP)
	p.ready(t)
	return p
}

func (p *Peer) ready(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	l, err := p.Line(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(l)
	if len(f) == 0 || f[0] != "READY" {
		t.Fatalf("pyzmq: %s: want READY, got %q", p.name, l)
	}
	p.endpoints = f[1:]
}

// Endpoints returns the endpoints the peer bound (resolved) and connected,
// in the order of its arguments (binds first).
func (p *Peer) Endpoints() []string { return p.endpoints }

// Endpoint returns the first endpoint.
func (p *Peer) Endpoint() string {
	if len(p.endpoints) == 0 {
		p.t.Fatalf("pyzmq: %s has no endpoint", p.name)
	}
	return p.endpoints[0]
}

// Send has the peer send one message.
func (p *Peer) Send(frames ...[]byte) error {
	return p.Writeln("send " + encodeFrames(frames))
}

// SendString has the peer send one message, one string a frame.
func (p *Peer) SendString(frames ...string) error {
	return p.Send(toBytes(frames)...)
}

// Repeat has the peer send a message every interval until the next command.
func (p *Peer) Repeat(interval time.Duration, frames ...[]byte) error {
	return p.Writeln(fmt.Sprintf("repeat %d %s", interval.Milliseconds(), encodeFrames(frames)))
}

// Subscribe and Unsubscribe change a SUB peer's subscriptions.
func (p *Peer) Subscribe(prefix string) error   { return p.Writeln("sub " + prefix) }
func (p *Peer) Unsubscribe(prefix string) error { return p.Writeln("unsub " + prefix) }

// Echo turns echoing every received message back on or off.
func (p *Peer) Echo(on bool) error {
	if on {
		return p.Writeln("echo on")
	}
	return p.Writeln("echo off")
}

// Sync returns once the peer has run every command sent before it (its
// sends made, its subscriptions changed), waiting until ctx ends.
func (p *Peer) Sync(ctx context.Context) error {
	if err := p.Writeln("sync"); err != nil {
		return err
	}
	for p.synced == 0 {
		if err := p.next(ctx); err != nil {
			return err
		}
	}
	p.synced--
	return nil
}

// Recv returns the next message the peer received, waiting until ctx ends.
func (p *Peer) Recv(ctx context.Context) ([][]byte, error) {
	for len(p.msgs) == 0 {
		if err := p.next(ctx); err != nil {
			return nil, err
		}
	}
	m := p.msgs[0]
	p.msgs = p.msgs[1:]
	return m, nil
}

// WaitEvent waits until the peer's socket monitor reports one of the events
// names (libzmq's names without ZMQ_EVENT_: "HANDSHAKE_SUCCEEDED",
// "DISCONNECTED", "HANDSHAKE_FAILED_AUTH", ...), consumes it and the events
// before it, and returns the name that came.
func (p *Peer) WaitEvent(ctx context.Context, names ...string) (string, error) {
	for {
		for i, e := range p.events {
			n, _, _ := strings.Cut(e, " ")
			if slices.Contains(names, n) {
				p.events = p.events[i+1:]
				return n, nil
			}
		}
		if err := p.next(ctx); err != nil {
			return "", fmt.Errorf("waiting for event %v (saw %s): %w", names, summarize(p.seen), err)
		}
	}
}

// SeenEvents returns every monitor event the peer has reported so far
// (as far as Recv and WaitEvent have read), "NAME endpoint" each.
func (p *Peer) SeenEvents() []string { return append([]string(nil), p.seen...) }

// ErrPeer is a command the peer reported as failed ("ERR" lines).
var ErrPeer = errors.New("pyzmq: peer error")

// next reads one line of the protocol and files it.
func (p *Peer) next(ctx context.Context) error {
	l, err := p.Line(ctx)
	if err != nil {
		return err
	}
	kind, rest, _ := strings.Cut(l, " ")
	switch kind {
	case "MSG":
		var frames [][]byte // JSON base64 strings decode to []byte
		if err := json.Unmarshal([]byte(rest), &frames); err != nil {
			return fmt.Errorf("pyzmq: %s: bad MSG line: %w", p.name, err)
		}
		p.msgs = append(p.msgs, frames)
	case "EVENT":
		p.events = append(p.events, rest)
		p.seen = append(p.seen, rest)
	case "SYNCED":
		p.synced++
	case "ERR":
		return fmt.Errorf("%w: %s: %s", ErrPeer, p.name, rest)
	default:
		return fmt.Errorf("pyzmq: %s: unexpected line %q", p.name, l)
	}
	return nil
}

// encodeFrames writes frames as peer.py reads them: a JSON list of base64
// strings (json.Marshal would write a nil frame as null).
func encodeFrames(frames [][]byte) string {
	s := make([]string, len(frames))
	for i, f := range frames {
		s[i] = base64.StdEncoding.EncodeToString(f)
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

func toBytes(frames []string) [][]byte {
	b := make([][]byte, len(frames))
	for i, f := range frames {
		b[i] = []byte(f)
	}
	return b
}

// summarize lists the last few of many events.
func summarize(events []string) string {
	const keep = 8
	if len(events) <= keep {
		return fmt.Sprint(events)
	}
	return fmt.Sprintf("%d events, the last %v", len(events), events[len(events)-keep:])
}
