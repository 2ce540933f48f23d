package socket

// FuzzCurveServer and FuzzCurveClient feed arbitrary bytes as the peer's
// side of a CURVE connection, greeting and handshake included, then read
// what follows as the connection's reader does. The side under test draws
// its randomness from a fixed stream, so a recorded handshake replays
// validly: the seeds are whole conversations (handshake, messages,
// commands) and their cuts, and the fuzzer mutates from deep inside the
// protocol, not only at its first box. Whatever the bytes, nothing panics,
// the handshake's allocations stay bounded, and after it no message over
// the limit gets through, what one costs stays within twice the limit, and
// a read ends with an error that says why.
//
//	go test -run '^$' -fuzz FuzzCurveServer -fuzztime 60s -fuzzminimizetime 2s ./socket
//	go test -run '^$' -fuzz FuzzCurveClient -fuzztime 60s -fuzzminimizetime 2s ./socket
//
// Seed corpora are in testdata/fuzz/FuzzCurveServer and FuzzCurveClient
// (ZMQFLOW_WRITE_CORPUS=1 go test -run TestCurveFuzzCorpus rewrites the
// recorded conversations there).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-zeromq/zmq4"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// The libzmq test keys (zmq_curve(7)).
const (
	fuzzServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
	fuzzClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	fuzzClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
)

// maxHandshakeAlloc bounds what a CURVE handshake may allocate, whatever
// the peer says: a few commands of at most maxCommandSize, each read,
// copied by zmq4 and opened once.
const maxHandshakeAlloc = 16 * maxCommandSize

func fuzzCurveConfigs(t testing.TB) (server, client curveConfig) {
	sec, err := ParseCurveKey(fuzzServerSecret)
	if err != nil {
		t.Fatal(err)
	}
	var o options
	if err := WithCurveServer(sec).apply(&o); err != nil {
		t.Fatal(err)
	}
	cpub, _ := ParseCurveKey(fuzzClientPublic)
	csec, _ := ParseCurveKey(fuzzClientSecret)
	if err := WithCurveAuthenticator(AllowCurveKeys(cpub)).apply(&o); err != nil {
		t.Fatal(err)
	}
	server = o.curve
	o = options{}
	if err := WithCurveClient(server.keys.Public, CurveKeyPair{Public: cpub, Secret: csec}).apply(&o); err != nil {
		t.Fatal(err)
	}
	return server, o.curve
}

// fixedRand is the side under test's randomness: the same stream each time.
func fixedRand() io.Reader { return rand.NewChaCha8([32]byte{'z', 'm', 'q', 'f', 'l', 'o', 'w'}) }

// curveOpen runs the greeting and CURVE handshake over conn as zmq4.Open
// does for a socket, without handshake's recover: a panic here is a bug.
func curveOpen(conn net.Conn, cfg curveConfig, typ string, limit int64) (*wire, error) {
	w := newWire(conn, limit)
	sec := &curveSecurity{cfg: cfg, ctx: context.Background(), req: AuthRequest{Mechanism: "CURVE"}}
	if _, err := zmq4.Open(w, sec, zmq4.SocketType(typ), zmq4.SocketIdentity(nil), cfg.server, nil); err != nil {
		return nil, err
	}
	w.curve = sec.sess
	w.establish()
	return w, nil
}

func FuzzCurveServer(f *testing.F) {
	server, client := fuzzCurveConfigs(f)
	addCurveSeeds(f, server, client, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCurvePeer(t, server, "PULL", data)
	})
}

func FuzzCurveClient(f *testing.F) {
	server, client := fuzzCurveConfigs(f)
	addCurveSeeds(f, server, client, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCurvePeer(t, client, "PUSH", data)
	})
}

// addCurveSeeds adds a recorded conversation with the side under test and
// cuts of it: after the greeting, in the handshake, between messages.
func addCurveSeeds(f *testing.F, server, client curveConfig, fuzzServer bool) {
	conv := curveConversation(f, server, client, fuzzServer)
	f.Add(conv)
	for _, n := range []int{10, 64, 66, 200, 300, 400, 500, len(conv) - 40, len(conv) - 1} {
		if n < len(conv) {
			f.Add(conv[:n])
		}
	}
}

// checkCurvePeer plays data as the peer's side of a connection with the
// side configured by cfg.
func checkCurvePeer(t *testing.T, cfg curveConfig, typ string, data []byte) {
	for _, chunk := range []int{0, 5} {
		var w *wire
		var err error
		fuzzcheck.CheckAlloc(t, "the handshake", maxHandshakeAlloc, func() {
			cfg.rand = fixedRand()
			w, err = curveOpen(newScriptConn(data, chunk), cfg, typ, fuzzLimit)
		})
		if err != nil {
			continue // failed cleanly: that is all a bad handshake owes
		}
		if chunk > 0 { // and charged to a receive budget (see checkBudgetAlone)
			w.recvBudget, w.stop = newRecvBudget(fuzzLimit), make(chan struct{})
		}
		for k := 0; ; k++ {
			var m Msg
			var err error
			pooled := bigBufsMade.Load()
			got := fuzzcheck.Allocated(func() { m, err = w.readMsg() })
			got -= uint64(bigBufsMade.Load()-pooled) * bigBufSize
			// Over the bound, the conversation is played again to message
			// k twice more and the least counts, as for the plain wire:
			// what other goroutines allocated meanwhile does not.
			for try := 0; try < 2 && got > 2*fuzzLimit+readerSlack; try++ {
				got = min(got, curveReadCost(t, cfg, typ, data, chunk, k))
			}
			if got > 2*fuzzLimit+readerSlack {
				t.Fatalf("message %d (%d frames, err %v) allocated %d bytes, bound %d", k, len(m), err, got, 2*fuzzLimit+readerSlack)
			}
			if w.recvBudget != nil {
				checkCharged(t, w, m, err)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTooLarge) &&
					!errors.Is(err, errBadFrame) && !errors.Is(err, ErrCurve) {
					t.Fatalf("readMsg stopped with %v", err)
				}
				break
			}
			if len(m) == 0 || m.Size() > fuzzLimit {
				t.Fatalf("message %d: %d frames, %d bytes", k, len(m), m.Size())
			}
		}
		if w.pinged.Load() {
			if ctx, ok := w.pongContext(); !ok || len(ctx) > 16 {
				t.Fatalf("PONG context %q, %v", ctx, ok)
			}
		}
	}
}

// recorder keeps what is written through it.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// curveConversation runs a real handshake over loopback tcp, the side
// under test (the server if fuzzServer) drawing from fixedRand, and returns
// what the other side wrote: its greeting and handshake, three messages
// with a PING among them.
func curveConversation(t testing.TB, server, client curveConfig, fuzzServer bool) []byte {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	mine, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	rec := &recorder{Conn: other}
	testCfg, otherCfg, testTyp, otherTyp := server, client, "PULL", "PUSH"
	if !fuzzServer {
		testCfg, otherCfg, testTyp, otherTyp = client, server, "PUSH", "PULL"
	}
	testCfg.rand = fixedRand()
	done := make(chan error, 1)
	go func() {
		w, err := curveOpen(mine, testCfg, testTyp, fuzzLimit)
		if err == nil {
			for err == nil {
				_, err = w.readMsg()
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		done <- err
	}()
	w, err := curveOpen(rec, otherCfg, otherTyp, fuzzLimit)
	if err != nil {
		t.Fatal(err)
	}
	w.writeMsg(Msg{[]byte("hello")})
	w.writeCommand("PING", []byte{0, 10, 'c', 't', 'x'})
	w.writeMsg(Msg{[]byte("multi"), {}, bytes.Repeat([]byte{'p'}, 300)})
	w.writeMsg(Msg{bytes.Repeat([]byte{'x'}, fuzzLimit)})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := <-done; err != nil {
		t.Fatalf("the side under test: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return bytes.Clone(rec.buf.Bytes())
}

// TestCurveFuzzCorpus checks that the recorded conversations replay whole
// (so that the seeds reach past the handshake), and with
// ZMQFLOW_WRITE_CORPUS=1 writes them to the committed seed corpora.
func TestCurveFuzzCorpus(t *testing.T) {
	server, client := fuzzCurveConfigs(t)
	for _, fuzzServer := range []bool{true, false} {
		conv := curveConversation(t, server, client, fuzzServer)
		cfg, typ, name := server, "PULL", "FuzzCurveServer"
		if !fuzzServer {
			cfg, typ, name = client, "PUSH", "FuzzCurveClient"
		}
		cfg.rand = fixedRand()
		w, err := curveOpen(newScriptConn(conv, 0), cfg, typ, fuzzLimit)
		if err != nil {
			t.Fatalf("%s: replay: %v", name, err)
		}
		var msgs int
		for {
			if _, err := w.readMsg(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: replay after %d messages: %v", name, msgs, err)
				}
				break
			}
			msgs++
		}
		if msgs != 3 || !w.pinged.Load() {
			t.Fatalf("%s: replay read %d messages, PING %v", name, msgs, w.pinged.Load())
		}
		if os.Getenv("ZMQFLOW_WRITE_CORPUS") == "1" {
			dir := filepath.Join("testdata", "fuzz", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", conv)
			if err := os.WriteFile(filepath.Join(dir, "conversation"), []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// curveReadCost plays data as the peer's side to the side configured by
// cfg, reads messages until message k, and returns what reading that one
// allocated (as checkCurvePeer counts it).
func curveReadCost(t *testing.T, cfg curveConfig, typ string, data []byte, chunk, k int) uint64 {
	cfg.rand = fixedRand()
	w, err := curveOpen(newScriptConn(data, chunk), cfg, typ, fuzzLimit)
	if err != nil {
		t.Fatalf("played again, the handshake failed: %v", err)
	}
	if chunk > 0 {
		w.recvBudget, w.stop = newRecvBudget(fuzzLimit), make(chan struct{})
	}
	for range k {
		if _, err := w.readMsg(); err != nil {
			t.Fatalf("played again, message %d failed: %v", k, err)
		}
	}
	pooled := bigBufsMade.Load()
	got := fuzzcheck.Allocated(func() { _, _ = w.readMsg() })
	return got - uint64(bigBufsMade.Load()-pooled)*bigBufSize
}
