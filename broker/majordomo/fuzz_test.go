package majordomo

// FuzzMDP feeds arbitrary messages from a peer through the Majordomo
// parsers, on each side: the broker's (mdpCut after the routing id, then
// parseMDPRequest for a client's REQUEST, parseMDPWorker for a worker's
// command), the client's (parseMDPReply, mmiFound) and the worker's
// (mdpCut, mdpAddressed). Each answer is checked against the spec's frames
// (7/MDP 0.1, 8/MMI), errors wrap ErrMalformed, every message the
// package sends decodes to what was meant, and a parser allocates no more
// than a bound in the message's size.
//
//	go test -run '^$' -fuzz FuzzMDP -fuzztime 60s ./broker/majordomo
//
// The seed corpus is in testdata/fuzz/FuzzMDP; a message is written as in
// fuzzMsg, "|a||b" being the frames a, "" and b.

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

func FuzzMDP(f *testing.F) {
	f.Add([]byte("|W||MDPW01|\x01|echo"))          // READY, as the broker reads it
	f.Add([]byte("|C||MDPC01|echo|hello"))         // REQUEST from a DEALER client
	f.Add([]byte("||MDPW01|\x02|C||hello"))        // REQUEST, as a worker reads it
	f.Add([]byte("||MDPC01|echo|hello"))           // REPLY, as a client reads it
	f.Add([]byte("|W||MDPW01|\x03|C||world|\x00")) // REPLY, as the broker reads it
	f.Add([]byte("|C||MDPC01|mmi.service|echo"))   // MMI request
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzcheck.Frames(data)
		if len(m) > 0 { // a ROUTER's messages start with a routing id
			checkMDPBroker(t, m)
		}
		checkMDPClient(t, m)
		checkMDPWorker(t, m)
		checkMDPEncode(t, m)
	})
}

// checkMDPBroker reads m as the broker's ROUTER gets it: routing id,
// header, rest.
func checkMDPBroker(t *testing.T, m [][]byte) {
	in := m[1:]
	header := len(in) >= 2 && len(in[0]) == 0
	fromClient := header && string(in[1]) == ClientHeader
	fromWorker := header && string(in[1]) == WorkerHeader
	crest, cok := mdpCut(in, ClientHeader)
	wrest, wok := mdpCut(in, WorkerHeader)
	if cok != fromClient || wok != fromWorker ||
		cok && !fuzzcheck.FramesEqual(crest, in[2:]) || wok && !fuzzcheck.FramesEqual(wrest, in[2:]) {
		t.Fatalf("mdpCut(%q): client %v %q, worker %v %q", in, cok, crest, wok, wrest)
	}
	wire := fuzzcheck.WireSize(m)
	if cok {
		service, body, err := parseMDPRequest(crest)
		ok := len(crest) >= 2 && len(crest[0]) > 0 // a service, then a body of one frame at least
		if ok != (err == nil) || ok && (service != string(crest[0]) || !fuzzcheck.FramesEqual(body, crest[1:])) {
			t.Fatalf("parseMDPRequest(%q) = %q, %q, %v", crest, service, body, err)
		}
		checkMDPError(t, "parseMDPRequest", crest, err)
		fuzzcheck.CheckParserAlloc(t, "parseMDPRequest", wire, func() { parseMDPRequest(crest) })
	}
	if wok {
		cmd, rest, err := parseMDPWorker(wrest)
		if want := workerCommandOK(wrest); want != (err == nil) {
			t.Fatalf("parseMDPWorker(%q) = %q, %q, %v; want ok %v", wrest, cmd, rest, err, want)
		}
		checkMDPError(t, "parseMDPWorker", wrest, err)
		if err == nil {
			if cmd != string(wrest[0]) || !fuzzcheck.FramesEqual(rest, wrest[1:]) {
				t.Fatalf("parseMDPWorker(%q) = %q, %q", wrest, cmd, rest)
			}
			// What the broker read goes back out as it came in:
			// mdpWorkerMsg makes the same frames.
			again := mdpWorkerMsg([]byte(cmd), rest...)
			if !fuzzcheck.FramesEqual(again, in) {
				t.Fatalf("worker command %q made again is %q", in, again)
			}
		}
		fuzzcheck.CheckParserAlloc(t, "parseMDPWorker", wire, func() { parseMDPWorker(wrest) })
	}
	fuzzcheck.CheckParserAlloc(t, "mdpCut", wire, func() { mdpCut(in, ClientHeader); mdpCut(in, WorkerHeader) })
}

// workerCommandOK is the spec's word on a worker's command frames, after
// the header: one command byte, READY with one service frame, REPLY with
// the client's address and an empty frame before the body, HEARTBEAT and
// DISCONNECT with anything after them (the broker ignores it).
func workerCommandOK(f [][]byte) bool {
	if len(f) < 1 || len(f[0]) != 1 {
		return false
	}
	switch string(f[0]) {
	case mdpReady:
		return len(f) == 2
	case mdpReply:
		return len(f) >= 3 && len(f[2]) == 0
	case mdpHeartbeat, mdpDisconnect:
		return true
	}
	return false
}

// checkMDPClient reads m as a client's DEALER gets it, for the service
// the message names and for another, and as mmi.service's reply body.
func checkMDPClient(t *testing.T, m [][]byte) {
	services := []string{"echo"}
	if len(m) >= 3 {
		services = append(services, string(m[2]))
	}
	for _, service := range services {
		body, err := parseMDPReply(m, service)
		ok := len(m) >= 3 && len(m[0]) == 0 && string(m[1]) == ClientHeader && string(m[2]) == service
		if ok != (err == nil) || ok && !fuzzcheck.FramesEqual(body, m[3:]) {
			t.Fatalf("parseMDPReply(%q, %q) = %q, %v", m, service, body, err)
		}
		checkMDPError(t, "parseMDPReply", m, err)
		// The service asked, the caller's own, is quoted whole in the
		// error: up to 16x its length, twice the bound's 8x.
		fuzzcheck.CheckParserAlloc(t, "parseMDPReply", fuzzcheck.WireSize(m)+2*uint64(len(service)), func() { parseMDPReply(m, service) })
	}
	found, err := mmiFound(m)
	ok := len(m) == 1 && (string(m[0]) == MMIFound || string(m[0]) == MMINotFound)
	if ok != (err == nil) || ok && found != (string(m[0]) == MMIFound) {
		t.Fatalf("mmiFound(%q) = %v, %v", m, found, err)
	}
	checkMDPError(t, "mmiFound", m, err)
	fuzzcheck.CheckParserAlloc(t, "mmiFound", fuzzcheck.WireSize(m), func() { mmiFound(m) })
}

// checkMDPWorker reads m as a worker's DEALER gets it: header, command,
// and for REQUEST the client's address, an empty frame and the body.
func checkMDPWorker(t *testing.T, m [][]byte) {
	rest, ok := mdpCut(m, WorkerHeader)
	if want := len(m) >= 2 && len(m[0]) == 0 && string(m[1]) == WorkerHeader; ok != want {
		t.Fatalf("mdpCut(%q, MDPW01) = %v", m, ok)
	}
	if !ok || len(rest) < 1 {
		return
	}
	client, body, ok := mdpAddressed(rest[1:])
	want := len(rest) >= 3 && len(rest[2]) == 0
	if ok != want || ok && (!bytes.Equal(client, rest[1]) || !fuzzcheck.FramesEqual(body, rest[3:])) {
		t.Fatalf("mdpAddressed(%q) = %q, %q, %v", rest[1:], client, body, ok)
	}
	fuzzcheck.CheckParserAlloc(t, "mdpAddressed", fuzzcheck.WireSize(m), func() { mdpAddressed(rest[1:]) })
}

// checkMDPError checks that a parser's error wraps ErrMalformed.
func checkMDPError(t *testing.T, parser string, m [][]byte, err error) {
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s(%q): error %v does not wrap ErrMalformed", parser, m, err)
	}
}

// checkMDPEncode makes every message of the protocol from m's frames, as
// the package's clients, workers and broker make them, and reads each as
// its receiver does.
func checkMDPEncode(t *testing.T, m [][]byte) {
	service := string(fuzzcheck.NonEmpty(m, "echo")[0])
	client := []byte("C")
	if len(m) > 0 {
		client = m[0]
	}
	routed := func(msg [][]byte) [][]byte { return append([][]byte{[]byte("peer")}, msg...) }

	// Client -> broker: REQUEST (Client.Request), which has a body;
	// without one (Request refuses to send it) the broker drops it.
	req := append([][]byte{frameEmpty, frameMDPC, []byte(service)}, m...)
	rest, ok := mdpCut(routed(req)[1:], ClientHeader)
	s, body, err := parseMDPRequest(rest)
	if len(m) == 0 {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("client REQUEST %q without a body reads at the broker as %q, %q, %v", req, s, body, err)
		}
	} else if !ok || err != nil || s != service || !fuzzcheck.FramesEqual(body, m) {
		t.Fatalf("client REQUEST %q reads at the broker as %q, %q, %v", req, s, body, err)
	}
	// Worker -> broker: READY and REPLY (sessionState).
	for _, w := range []struct {
		msg  [][]byte
		rest [][]byte
	}{
		{mdpWorkerMsg(frameMDPReady, []byte(service)), [][]byte{[]byte(service)}},
		{append(mdpWorkerMsg(frameMDPReply, client, frameEmpty), m...), append([][]byte{client, frameEmpty}, m...)},
		{mdpWorkerMsg(frameMDPHeartbeat), nil},
		{mdpWorkerMsg(frameMDPDisconnect), nil},
	} {
		rest, ok := mdpCut(routed(w.msg)[1:], WorkerHeader)
		cmd, got, err := parseMDPWorker(rest)
		if !ok || err != nil || cmd != string(w.msg[2]) || !fuzzcheck.FramesEqual(got, w.rest) {
			t.Fatalf("worker message %q reads at the broker as %q, %q, %v", w.msg, cmd, got, err)
		}
		if cmd == mdpReply {
			if c, body, ok := mdpAddressed(got); !ok || !bytes.Equal(c, client) || !fuzzcheck.FramesEqual(body, m) {
				t.Fatalf("worker REPLY %q carries %q, %q, %v", w.msg, c, body, ok)
			}
		}
	}
	// Broker -> worker: REQUEST (brokerState.dispatch), the routing id taken
	// off by the broker's ROUTER.
	toWorker := append([][]byte{[]byte("W"), frameEmpty, frameMDPW, frameMDPRequest, client, frameEmpty}, m...)[1:]
	rest, ok = mdpCut(toWorker, WorkerHeader)
	if !ok || string(rest[0]) != mdpRequest {
		t.Fatalf("broker REQUEST %q has no MDPW01 REQUEST header", toWorker)
	}
	if c, body, ok := mdpAddressed(rest[1:]); !ok || !bytes.Equal(c, client) || !fuzzcheck.FramesEqual(body, m) {
		t.Fatalf("broker REQUEST %q reads at the worker as %q, %q, %v", toWorker, c, body, ok)
	}
	// Broker -> client: REPLY (brokerState.fromWorker) and mmi.service's
	// answer (brokerState.mmi), the client's routing id taken off.
	toClient := append([][]byte{client, frameEmpty, frameMDPC, []byte(service)}, m...)[1:]
	if body, err := parseMDPReply(toClient, service); err != nil || !fuzzcheck.FramesEqual(body, m) {
		t.Fatalf("broker REPLY %q reads at the client as %q, %v", toClient, body, err)
	}
	l := &brokerState{services: map[string]*mdpService{service: {name: service, workers: len(m) % 2}}}
	mmi := l.mmi(client, MMIService, [][]byte{[]byte(service)})[1:]
	body, err = parseMDPReply(mmi, MMIService)
	if err != nil {
		t.Fatalf("mmi reply %q: %v", mmi, err)
	}
	if found, err := mmiFound(body); err != nil || found != (len(m)%2 == 1) {
		t.Fatalf("mmi reply %q for a service with %d workers reads as %v, %v", mmi, len(m)%2, found, err)
	}
}
