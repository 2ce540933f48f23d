package pirate

// FuzzPPP feeds arbitrary messages from a peer through the Paranoid Pirate
// parsers: parseWorkerMsg (what a LoadBalancer reads from a worker, PPP or
// lbbroker's REQ, after its routing id), parsePPP (what a Worker reads from
// its broker, ppp.Parse), ppp.SplitEnvelope and ppp.EnvelopeKey (the
// LoadBalancer's and peering.Broker's requests and replies), and
// clientReply (a Client's replies). Each answer is checked against the
// spec's rules (6/PPP), errors wrap ErrMalformed, what is sent decodes to
// what was meant, envelope keys tell stacks apart, and a parser allocates
// no more than a bound in the message's size.
//
//	go test -run '^$' -fuzz FuzzPPP -fuzztime 60s ./broker/pirate
//
// The seed corpus is in testdata/fuzz/FuzzPPP; a message is written as in
// fuzzMsg, "|a||b" being the frames a, "" and b.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

func FuzzPPP(f *testing.F) {
	f.Add([]byte("|\x01"))                        // READY
	f.Add([]byte("|\x02"))                        // HEARTBEAT
	f.Add([]byte("|client|0123456789abcdef||hi")) // request as a broker reads it
	f.Add([]byte("|\x03"))                        // unknown command
	f.Add([]byte("||READY"))                      // an lbbroker worker's READY
	f.Add([]byte("|0123456789abcdef||OK"))        // a reply as a broker reads it
	f.Add([]byte("||0123456789abcdef||OK"))       // the same from a REQ worker
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzcheck.Frames(data)
		checkParsePPP(t, m)
		checkWorkerMsg(t, m)
		checkClientReply(t, m)
		checkEnvelopeKey(t, m)
		checkPPPEncode(t, m)
	})
}

// checkParsePPP parses m and checks the answer against the spec's rules.
func checkParsePPP(t *testing.T, m [][]byte) {
	p, err := parsePPP(m)
	if len(m) == 1 {
		isCmd := string(m[0]) == ppp.Ready || string(m[0]) == ppp.Heartbeat
		if isCmd != (err == nil) || isCmd && p.Cmd != string(m[0]) {
			t.Fatalf("parsePPP(%q) = %+v, %v", m, p, err)
		}
	} else {
		delim := -1 // the first empty frame
		for i, f := range m {
			if len(f) == 0 {
				delim = i
				break
			}
		}
		ok := delim >= 1
		if ok != (err == nil) {
			t.Fatalf("parsePPP(%q) = %+v, %v; delimiter at %d", m, p, err, delim)
		}
		if ok && (p.Cmd != "" || !fuzzcheck.FramesEqual(p.Env, m[:delim+1]) || !fuzzcheck.FramesEqual(p.Body, m[delim+1:])) {
			t.Fatalf("parsePPP(%q) = %+v", m, p)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parsePPP(%q) error %v does not wrap ErrMalformed", m, err)
		}
	} else if p.Cmd == "" {
		// What comes back is what the peer sent: the stack and body
		// joined again.
		again, err := parsePPP(append(append([][]byte{}, p.Env...), p.Body...))
		if err != nil || !fuzzcheck.FramesEqual(again.Env, p.Env) || !fuzzcheck.FramesEqual(again.Body, p.Body) {
			t.Fatalf("parsePPP of %q joined again: %+v, %v", m, again, err)
		}
	}
	fuzzcheck.CheckParserAlloc(t, "parsePPP", fuzzcheck.WireSize(m), func() { parsePPP(m) })
}

// checkClientReply reads m as a Client's reply.
func checkClientReply(t *testing.T, m [][]byte) {
	id, body, err := clientReply(m)
	ok := len(m) >= 2 && len(m[1]) == 0
	if ok != (err == nil) {
		t.Fatalf("clientReply(%q) = %q, %q, %v", m, id, body, err)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("clientReply(%q) error %v does not wrap ErrMalformed", m, err)
		}
	} else if !bytes.Equal(id, m[0]) || !fuzzcheck.FramesEqual(body, m[2:]) {
		t.Fatalf("clientReply(%q) = %q, %q", m, id, body)
	}
	fuzzcheck.CheckParserAlloc(t, "clientReply", fuzzcheck.WireSize(m), func() { clientReply(m) })
}

// checkEnvelopeKey checks that envelopeKey tells address stacks apart: the
// key reads back as the stack, and the two halves of m have one key only
// when they are the same frames.
func checkEnvelopeKey(t *testing.T, m [][]byte) {
	key := ppp.EnvelopeKey(m)
	if back, ok := readEnvelopeKey(key); !ok || !fuzzcheck.FramesEqual(back, m) {
		t.Fatalf("ppp.EnvelopeKey(%q) = %q reads back as %q, %v", m, key, back, ok)
	}
	a, b := m[:len(m)/2], m[len(m)/2:]
	if (ppp.EnvelopeKey(a) == ppp.EnvelopeKey(b)) != fuzzcheck.FramesEqual(a, b) {
		t.Fatalf("ppp.EnvelopeKey(%q) vs ppp.EnvelopeKey(%q): equal keys for different stacks, or the reverse", a, b)
	}
	// The key is the frames and a varint each; its builder grows by
	// doubling.
	fuzzcheck.CheckParserAlloc(t, "envelopeKey", fuzzcheck.WireSize(m), func() { ppp.EnvelopeKey(m) })
}

// readEnvelopeKey is envelopeKey's inverse.
func readEnvelopeKey(key string) ([][]byte, bool) {
	b := []byte(key)
	var frames [][]byte
	for len(b) > 0 {
		n, size := binary.Uvarint(b)
		if size <= 0 || uint64(len(b)-size) < n {
			return nil, false
		}
		frames = append(frames, b[size:size+int(n)])
		b = b[size+int(n):]
	}
	return frames, true
}

// checkWorkerMsg reads m as a LoadBalancer reads a worker's message, and
// checks the answer against the rules: behind an empty frame (a REQ
// worker) READY is "READY" or 0x01 and there is no HEARTBEAT; a reply's
// address is one ticket. A request as the load balancer sends it, copied
// back as a worker replies, reads as its ticket and body.
func checkWorkerMsg(t *testing.T, m [][]byte) {
	p, err := parseWorkerMsg(m)
	req := len(m) > 0 && len(m[0]) == 0
	rest := m
	if req {
		rest = m[1:]
	}
	var ok bool
	var cmd string
	switch {
	case len(rest) == 1 && req:
		ok, cmd = string(rest[0]) == "READY" || string(rest[0]) == ppp.Ready, ppp.Ready
	case len(rest) == 1:
		ok, cmd = string(rest[0]) == ppp.Ready || string(rest[0]) == ppp.Heartbeat, string(rest[0])
	default:
		ok = len(rest) >= 2 && len(rest[0]) == ticketLen && len(rest[1]) == 0
	}
	if ok != (err == nil) {
		t.Fatalf("parseWorkerMsg(%q) = %+v, %v", m, p, err)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseWorkerMsg(%q) error %v does not wrap ErrMalformed", m, err)
		}
	} else if p.req != req || p.cmd != cmd ||
		cmd == "" && (!bytes.Equal(p.ticket, rest[0]) || !fuzzcheck.FramesEqual(p.body, rest[2:])) {
		t.Fatalf("parseWorkerMsg(%q) = %+v", m, p)
	}
	fuzzcheck.CheckParserAlloc(t, "parseWorkerMsg", fuzzcheck.WireSize(m), func() { parseWorkerMsg(m) })

	var ticket [ticketLen]byte
	if len(m) > 0 {
		copy(ticket[:], m[0])
	}
	for _, req := range []bool{false, true} {
		out := toWorker([]byte("w"), req, string(ticket[:]), m)
		back, err := parseWorkerMsg(out[1:])
		if err != nil || back.req != req || back.cmd != "" || !bytes.Equal(back.ticket, ticket[:]) || !fuzzcheck.FramesEqual(back.body, m) {
			t.Fatalf("request %q copied back reads as %+v, %v", out, back, err)
		}
	}
}

// checkPPPEncode makes the messages the package sends from m's frames (a
// Client's request, the load balancer's to its worker, a Worker's reply,
// the commands) and reads them as their receivers do.
func checkPPPEncode(t *testing.T, m [][]byte) {
	// A Client's request (Request): request id, delimiter, body; the
	// broker's frontend ROUTER puts the client's routing id in front.
	var id [16]byte
	if len(m) > 0 {
		copy(id[:], m[0])
	}
	req := append([][]byte{[]byte("client"), id[:], nil}, m...)
	p, err := parsePPP(req)
	if err != nil || p.Cmd != "" || !fuzzcheck.FramesEqual(p.Env, req[:3]) || !fuzzcheck.FramesEqual(p.Body, m) {
		t.Fatalf("request %q parses as %+v, %v", req, p, err)
	}
	// Any stack of non-empty frames, as another PPP client or broker may
	// put, goes through the same way.
	stack := fuzzcheck.NonEmpty(m, "id")
	other := append(append(append([][]byte{}, stack...), nil), m...)
	if q, err := parsePPP(other); err != nil || !fuzzcheck.FramesEqual(q.Env, other[:len(stack)+1]) || !fuzzcheck.FramesEqual(q.Body, m) {
		t.Fatalf("request %q parses as %+v, %v", other, q, err)
	}
	// The load balancer sends the body behind a ticket; the worker reads
	// [ticket, "", body] (its ROUTER took the routing id off).
	ticket := string(id[:])
	toW := toWorker([]byte("w"), false, ticket, p.Body)[1:]
	atW, err := parsePPP(toW)
	if err != nil || atW.Cmd != "" || len(atW.Env) != 2 || string(atW.Env[0]) != ticket || !fuzzcheck.FramesEqual(atW.Body, m) {
		t.Fatalf("request %q reads at the worker as %+v, %v", toW, atW, err)
	}
	// The worker's reply (replyMsg): the ticket copied, the handler's
	// reply after it. The broker puts the client's stack back and passes
	// it to the frontend, whose ROUTER takes the routing id off: the
	// Client gets its id, the delimiter, the body.
	reply := replyMsg(atW.Env, m)
	back, err := parseWorkerMsg(reply)
	if err != nil || string(back.ticket) != ticket || !fuzzcheck.FramesEqual(back.body, m) {
		t.Fatalf("reply %q reads at the broker as %+v, %v", reply, back, err)
	}
	toClient := append(append([][]byte{}, p.Env...), back.body...)
	gotID, body, err := clientReply(toClient[1:])
	if err != nil || !bytes.Equal(gotID, id[:]) || !fuzzcheck.FramesEqual(body, m) {
		t.Fatalf("reply %q reads at the client as %q, %q, %v", toClient[1:], gotID, body, err)
	}
	for _, cmd := range [][]byte{ppp.FrameReady, ppp.FrameHeartbeat} {
		if p, err := parsePPP([][]byte{cmd}); err != nil || p.Cmd != string(cmd) {
			t.Fatalf("command %q parses as %+v, %v", cmd, p, err)
		}
	}
}
