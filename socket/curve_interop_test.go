package socket_test

// CURVE against libzmq 4.3 (pyzmq): each side as server and as client, over
// tcp and ipc, with libzmq's test keys; refusals (wrong server key, unknown
// client key, a NULL peer) on both sides; heartbeats and ciphertext seen
// through a relay; certificates written by one and read by the other.

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// pyCurveClient is peer.py's --curve-client value for the test keys.
func pyCurveClient(serverPublic, public, secret string) []string {
	return []string{"--curve-client=" + serverPublic + ":" + public + ":" + secret} // "=": a Z85 key may start with "-"
}

// curveInteropMsgs are what each test sends: multipart with empty frames,
// a 1 MiB frame, a small one.
func curveInteropMsgs() []socket.Msg {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i % 253)
	}
	return []socket.Msg{socket.NewMsgString("one"), interopBigMsg(), socket.NewMsg([]byte("big"), big), socket.NewMsgString("a", "", "c")}
}

// Messages go both ways between our CURVE side and libzmq's, through an
// echoing libzmq PAIR: out under one session nonce sequence, back under
// the other.
func TestInteropCurve(t *testing.T) {
	interopLeakCheck(t)
	server, client := testServerKeys(t), testClientKeys(t)
	echo := func(t *testing.T, ctx context.Context, s *socket.Socket) {
		for _, m := range curveInteropMsgs() {
			mustSend(t, ctx, s, m)
			wantFrames(t, "our CURVE PAIR, echoed", mustRecv(t, ctx, s), m)
		}
	}
	t.Run("go-server", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pair := openInterop(t, socket.Pair, socket.WithCurveServer(server.Secret))
			linkPeer(t, w, pair, "PAIR", append(pyCurveClient(testServerPublic, testClientPublic, testClientSecret), "--echo")...)
			echo(t, ctx, pair)
		})
	})
	t.Run("go-client", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pair := openInterop(t, socket.Pair, socket.WithCurveClient(server.Public, client))
			linkPeer(t, w, pair, "PAIR", "--curve-server="+testServerSecret, "--echo")
			echo(t, ctx, pair)
		})
	})
}

// Refusals, each way: whoever refuses, no message passes, our side reports
// the failed handshake, and libzmq reports its own.
func TestInteropCurveRefused(t *testing.T) {
	interopLeakCheck(t)
	server, client := testServerKeys(t), testClientKeys(t)
	stranger := newKeys(t)
	// noDelivery checks that p, whatever it is, receives nothing.
	noDelivery := func(t *testing.T, p *pyzmq.Peer) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if m, err := p.Recv(ctx); err == nil {
			t.Fatalf("libzmq received %v", shortMsg(m))
		}
	}
	ourFailure := func(t *testing.T, ctx context.Context, events <-chan socket.Event, want error) {
		t.Helper()
		e := waitForEvent(t, ctx, events, "the handshake to end", func(e socket.Event) bool {
			return e.Kind == socket.EventHandshakeFailed || e.Kind == socket.EventHandshakeOK
		})
		if e.Kind != socket.EventHandshakeFailed || !errors.Is(e.Err, want) {
			t.Errorf("our side: %v, want handshake-failed with %v", e, want)
		}
	}
	theirFailure := func(t *testing.T, ctx context.Context, p *pyzmq.Peer, want string) {
		t.Helper()
		got, err := p.WaitEvent(ctx, "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_SUCCEEDED")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("libzmq side: %s, want %s (events %v)", got, want, p.SeenEvents())
		}
	}

	t.Run("wrong-server-key/go-client", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithCurveClient(stranger.Public, client), socket.WithLinger(0))
			events := push.Monitor()
			p := linkPeer(t, w, push, "PULL", "--curve-server="+testServerSecret)
			ourFailure(t, ctx, events, socket.ErrHandshake)
			theirFailure(t, ctx, p, "HANDSHAKE_FAILED_PROTOCOL")
			sendCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_ = push.Send(sendCtx, socket.NewMsgString("secret"))
			noDelivery(t, p)
		})
	})
	t.Run("wrong-server-key/go-server", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull, socket.WithCurveServer(server.Secret))
			events := pull.Monitor()
			p := linkPeer(t, w, pull, "PUSH", pyCurveClient(stranger.Public.String(), testClientPublic, testClientSecret)...)
			pySendIfConnected(t, w, p, "secret")
			ourFailure(t, ctx, events, socket.ErrCurve)
			if m, ok := tryRecvFor(pull, 200*time.Millisecond); ok {
				t.Fatalf("we received %v", shortMsg(m))
			}
		})
	})
	t.Run("unknown-client-key/go-server", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull, socket.WithCurveServer(server.Secret), socket.WithCurveAuthenticator(socket.AllowCurveKeys(client.Public)))
			events := pull.Monitor()
			p := linkPeer(t, w, pull, "PUSH", pyCurveClient(testServerPublic, stranger.Public.String(), stranger.Secret.String())...)
			pySendIfConnected(t, w, p, "intruder")
			ourFailure(t, ctx, events, socket.ErrAuth)
			theirFailure(t, ctx, p, "HANDSHAKE_FAILED_AUTH")
			if m, ok := tryRecvFor(pull, 200*time.Millisecond); ok {
				t.Fatalf("we received %v", shortMsg(m))
			}
		})
	})
	t.Run("unknown-client-key/go-client", func(t *testing.T) {
		dir := t.TempDir()
		if err := socket.SaveCurveCert(filepath.Join(dir, "client.key"), socket.CurveCert{Public: client.Public}); err != nil {
			t.Fatal(err)
		}
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithCurveClient(server.Public, stranger), socket.WithLinger(0))
			events := push.Monitor()
			p := linkPeer(t, w, push, "PULL", "--curve-server="+testServerSecret, "--curve-allow", dir)
			ourFailure(t, ctx, events, socket.ErrAuth)
			theirFailure(t, ctx, p, "HANDSHAKE_FAILED_AUTH")
			noDelivery(t, p)
		})
	})
	t.Run("allowed-client-key/go-client", func(t *testing.T) {
		dir := t.TempDir()
		if err := socket.SaveCurveCert(filepath.Join(dir, "client.key"), socket.CurveCert{Public: client.Public, Secret: client.Secret}); err != nil {
			t.Fatal(err)
		}
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithCurveClient(server.Public, client))
			p := linkPeer(t, w, push, "PULL", "--curve-server="+testServerSecret, "--curve-allow", dir)
			m := socket.NewMsgString("allowed")
			mustSend(t, ctx, push, m)
			wantFrames(t, "libzmq CURVE server with ZAP", pyRecv(t, ctx, p), m)
		})
	})
	t.Run("null-peer/go-server", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull, socket.WithCurveServer(server.Secret))
			events := pull.Monitor()
			p := linkPeer(t, w, pull, "PUSH")
			pySendIfConnected(t, w, p, "plain")
			ourFailure(t, ctx, events, socket.ErrHandshake)
			if m, ok := tryRecvFor(pull, 200*time.Millisecond); ok {
				t.Fatalf("we received %v", shortMsg(m))
			}
		})
	})
	t.Run("null-peer/go-client", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithCurveClient(server.Public, client), socket.WithLinger(0))
			events := push.Monitor()
			p := linkPeer(t, w, push, "PULL")
			sendCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_ = push.Send(sendCtx, socket.NewMsgString("secret"))
			ourFailure(t, ctx, events, socket.ErrHandshake)
			noDelivery(t, p)
		})
	})
}

// pySendIfConnected has p send a message, if it connected: libzmq queues it
// for the connection being made. A libzmq PUSH that binds has no pipe until
// a handshake succeeds, and its send would block.
func pySendIfConnected(t *testing.T, w interopWiring, p *pyzmq.Peer, m string) {
	t.Helper()
	if w.goBinds {
		if err := p.SendString(m); err != nil {
			t.Fatal(err)
		}
	}
}

func tryRecvFor(s *socket.Socket, d time.Duration) (socket.Msg, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := s.Recv(ctx)
	return m, err == nil
}

// Through a relay: PINGs travel inside MESSAGEs and are answered (the
// PINGing side is ours when we are the server, libzmq's when it is: a
// hundred PONGs come back while the connection stays up), and no plaintext
// marker crosses the wire, whichever side is the server.
func TestInteropCurveWire(t *testing.T) {
	interopLeakCheck(t)
	pyzmq.Python(t)
	const marker = "MARKER-plaintext-must-not-leak"
	server, client := testServerKeys(t), testClientKeys(t)
	for _, goServer := range []bool{true, false} {
		name := "go-client"
		if goServer {
			name = "go-server"
		}
		t.Run(name, func(t *testing.T) {
			ctx := interopCtx(t)
			hb := socket.WithHeartbeat(5*time.Millisecond, 20*time.Second, 0)
			var pair *socket.Socket
			var r *zmtpRelay
			var p *pyzmq.Peer
			if goServer {
				pair = openInterop(t, socket.Pair, socket.WithCurveServer(server.Secret), hb)
				r = newRelay(t, mustBind(t, pair, "tcp://127.0.0.1:*"))
				p = pyzmq.Socket(t, "PAIR", append(pyCurveClient(testServerPublic, testClientPublic, testClientSecret),
					"--connect", r.endpoint(), "--echo")...)
			} else {
				p = pyzmq.Socket(t, "PAIR", "--bind", "tcp://127.0.0.1:*", "--curve-server="+testServerSecret, "--echo", "--heartbeat", "5,20000")
				r = newRelay(t, p.Endpoint())
				pair = openInterop(t, socket.Pair, socket.WithCurveClient(server.Public, client))
				mustConnect(t, pair, r.endpoint())
			}
			events := pair.Monitor()
			for _, m := range []socket.Msg{socket.NewMsgString(marker), socket.NewMsgString("x", strings.Repeat(marker, 30000))} {
				mustSend(t, ctx, pair, m)
				wantFrames(t, "our CURVE PAIR, echoed", mustRecv(t, ctx, pair), m)
			}
			// The handshake's two commands, up to three frames of echoed
			// messages, then PONGs, from the side that does not PING.
			answers := 0 // libzmq's server PINGs, our client answers
			if goServer {
				answers = 1
			}
			r.awaitFrames(answers, 2+3+100)
			for len(events) > 0 {
				if e := <-events; e.Kind == socket.EventDisconnected || e.Kind == socket.EventHandshakeFailed {
					t.Fatalf("%v", e)
				}
			}
			m := socket.NewMsgString("still up")
			mustSend(t, ctx, pair, m)
			wantFrames(t, "our CURVE PAIR, echoed", mustRecv(t, ctx, pair), m)
			if slicesContains(p.SeenEvents(), "DISCONNECTED") {
				t.Fatalf("libzmq saw %v", p.SeenEvents())
			}
			if bytes.Contains(r.bytesSeen(0), []byte(marker)) || bytes.Contains(r.bytesSeen(1), []byte(marker)) {
				t.Fatal("the marker crossed the wire in clear")
			}
		})
	}
}

func slicesContains(events []string, name string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, name+" ") || e == name {
			return true
		}
	}
	return false
}

// Certificates: pyzmq reads what SaveCurveCert writes, and LoadCurveCert
// reads what pyzmq's create_certificates writes.
func TestInteropCurveCerts(t *testing.T) {
	pyzmq.Python(t)
	dir := t.TempDir()
	kp := newKeys(t)
	if err := socket.SaveCurveCert(filepath.Join(dir, "ours.key"), socket.CurveCert{Public: kp.Public, Secret: kp.Secret, Metadata: map[string]string{"name": "ours"}}); err != nil {
		t.Fatal(err)
	}
	p := pyzmq.Start(t, `
import sys, zmq.auth
d = sys.argv[1]
pub, sec = zmq.auth.load_certificate(d + "/ours.key_secret")
pub2, none = zmq.auth.load_certificate(d + "/ours.key")
print(pub.decode(), sec.decode(), pub2.decode(), none)
pub, sec = zmq.auth.create_certificates(d, "theirs")
print(open(pub).read() and "made", flush=True)
`, dir)
	ctx := interopCtx(t)
	line, err := p.Line(ctx)
	if err != nil {
		t.Fatalf("%v (stderr %s)", err, p.Stderr())
	}
	if want := kp.Public.String() + " " + kp.Secret.String() + " " + kp.Public.String() + " None"; line != want {
		t.Fatalf("pyzmq read %q, want %q", line, want)
	}
	if line, err := p.Line(ctx); err != nil || line != "made" {
		t.Fatalf("%q, %v (stderr %s)", line, err, p.Stderr())
	}
	pub, err := socket.LoadCurveCert(filepath.Join(dir, "theirs.key"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := socket.LoadCurveCert(filepath.Join(dir, "theirs.key_secret"))
	if err != nil {
		t.Fatal(err)
	}
	if kp2, err := sec.KeyPair(); err != nil || kp2.Public != pub.Public {
		t.Fatalf("pyzmq's certificates: %v, %v", kp2, err)
	}
}
