package socket_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// libzmq's test key pairs (zmq_curve(7)), as the interop tests use them.
const (
	testClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	testClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
	testServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	testServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
)

func mustKey(t testing.TB, z85 string) socket.CurveKey {
	t.Helper()
	k, err := socket.ParseCurveKey(z85)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testServerKeys(t testing.TB) socket.CurveKeyPair {
	return socket.CurveKeyPair{Public: mustKey(t, testServerPublic), Secret: mustKey(t, testServerSecret)}
}

func testClientKeys(t testing.TB) socket.CurveKeyPair {
	return socket.CurveKeyPair{Public: mustKey(t, testClientPublic), Secret: mustKey(t, testClientSecret)}
}

func newKeys(t testing.TB) socket.CurveKeyPair {
	t.Helper()
	kp, err := socket.NewCurveKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestZ85Errors(t *testing.T) {
	for _, s := range []string{"Hello", "HelloWorl", "Hello\"orld", "Hell~World", "%%%%%"[:5], "#####"} {
		if len(s)%5 == 0 && s != "#####" && s != "%%%%%" && !strings.ContainsAny(s, "\"~") {
			continue
		}
		if _, err := socket.Z85Decode(s); !errors.Is(err, socket.ErrBadKey) {
			t.Errorf("Z85Decode(%q) error %v, want ErrBadKey", s, err)
		}
	}
	if _, err := socket.Z85Encode([]byte{1, 2, 3}); !errors.Is(err, socket.ErrBadKey) {
		t.Errorf("Z85Encode of 3 bytes: %v", err)
	}
	if _, err := socket.ParseCurveKey("HelloWorld"); !errors.Is(err, socket.ErrBadKey) {
		t.Errorf("ParseCurveKey of 10 characters: %v", err)
	}
	for range 100 {
		kp := newKeys(t)
		back, err := socket.ParseCurveKey(kp.Public.String())
		if err != nil || back != kp.Public {
			t.Fatalf("round trip of %s: %s, %v", kp.Public, back, err)
		}
	}
}

// Bad keys and mixed mechanisms are refused when the socket is made.
func TestCurveOptionErrors(t *testing.T) {
	kp := newKeys(t)
	other := newKeys(t)
	for name, opts := range map[string][]socket.Option{
		"zero server secret":  {socket.WithCurveServer(socket.CurveKey{})},
		"zero server key":     {socket.WithCurveClient(socket.CurveKey{}, kp)},
		"mismatched pair":     {socket.WithCurveClient(other.Public, socket.CurveKeyPair{Public: other.Public, Secret: kp.Secret})},
		"client and server":   {socket.WithCurveServer(kp.Secret), socket.WithCurveClient(other.Public, kp)},
		"curve and plain":     {socket.WithCurveServer(kp.Secret), socket.WithPlainClient("u", "p")},
		"plain and curve":     {socket.WithPlainServer(socket.AllowCurveKeys()), socket.WithCurveClient(other.Public, kp)},
		"auth without server": {socket.WithCurveAuthenticator(socket.AllowCurveKeys())},
		"nil auth":            {socket.WithCurveServer(kp.Secret), socket.WithCurveAuthenticator(nil)},
	} {
		if s, err := socket.New(socket.Pull, opts...); !errors.Is(err, socket.ErrBadOption) {
			t.Errorf("%s: error %v, want ErrBadOption", name, err)
			if s != nil {
				s.Close()
			}
		}
	}
}

// curvePair is a CURVE server (PULL) bound on tr and a client (PUSH)
// connected to it, with the libzmq test keys.
func curvePair(t *testing.T, ep string, serverOpts, clientOpts []socket.Option) (pull, push *tsock, bound string) {
	server, client := testServerKeys(t), testClientKeys(t)
	pull = openSock(t, socket.Pull, append([]socket.Option{socket.WithCurveServer(server.Secret)}, serverOpts...)...)
	bound = pull.bind(ep)
	push = openSock(t, socket.Push, append([]socket.Option{socket.WithCurveClient(server.Public, client)}, clientOpts...)...)
	push.connect(bound)
	return pull, push, bound
}

// Messages of every shape pass a CURVE connection whole and in order, both
// ways, over tcp and ipc (and inproc, where CURVE does not apply, as in
// libzmq).
func TestCurveGoToGo(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull, push, _ := curvePair(t, tr.endpoint(t), nil, nil)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		mid := bytes.Repeat([]byte{7}, 40<<10)
		msgs := []socket.Msg{
			socket.NewMsgString("hello"),
			socket.NewMsgString("a", "", "multi", "part"),
			socket.NewMsg([]byte{}),
			socket.NewMsg(mid, []byte("after mid")),
			socket.NewMsg(big),
			socket.NewMsg(big, big[:100], big[:300]),
		}
		ctx := testCtx(t, waitLimit)
		for range 3 {
			for _, m := range msgs {
				if err := push.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 3 * len(msgs) {
			got, err := pull.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := msgs[i%len(msgs)]
			if len(got) != len(want) {
				t.Fatalf("message %d: %d frames, want %d", i, len(got), len(want))
			}
			for f := range want {
				if !bytes.Equal(got[f], want[f]) {
					t.Fatalf("message %d frame %d: %d bytes differ", i, f, len(got[f]))
				}
			}
		}
	})
}

// Many small messages: the write buffer fills and sends repeatedly, and
// the reader finds MESSAGEs split across reads.
func TestCurveManySmall(t *testing.T) {
	pull, push, _ := curvePair(t, "tcp://127.0.0.1:*", nil, nil)
	ctx := testCtx(t, waitLimit)
	const n = 20000
	go func() {
		for i := range n {
			m := socket.NewMsg([]byte{byte(i), byte(i >> 8), byte(i >> 16)}, bytes.Repeat([]byte{'x'}, i%700))
			if push.Send(ctx, m) != nil {
				return
			}
		}
	}()
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d: %v", i, err)
		}
		if len(m) != 2 || int(m[0][0])|int(m[0][1])<<8|int(m[0][2])<<16 != i || len(m[1]) != i%700 {
			t.Fatalf("message %d out of order or damaged", i)
		}
	}
}

// A client with the wrong server key gets nowhere: the server cannot open
// its HELLO, both sides report a failed handshake, nothing is delivered.
func TestCurveWrongServerKey(t *testing.T) {
	server := testServerKeys(t)
	pull := openSock(t, socket.Pull, socket.WithCurveServer(server.Secret))
	ep := pull.bind("tcp://127.0.0.1:*")
	push := openSock(t, socket.Push, socket.WithCurveClient(newKeys(t).Public, testClientKeys(t)), socket.WithReconnectInterval(time.Hour), socket.WithLinger(0))
	push.connect(ep)
	e := pull.await(socket.EventHandshakeFailed)
	if !errors.Is(e.Err, socket.ErrHandshake) || !errors.Is(e.Err, socket.ErrCurve) {
		t.Errorf("server: %v, want ErrHandshake and ErrCurve", e)
	}
	push.await(socket.EventHandshakeFailed)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = push.Send(ctx, socket.NewMsgString("secret"))
	if m, ok := pull.tryRecv(100 * time.Millisecond); ok {
		t.Fatalf("the server received %q", m)
	}

	// A NULL client, and a PLAIN one, fail the greeting.
	null := openSock(t, socket.Push, socket.WithReconnectInterval(time.Hour))
	null.connect(ep)
	if e := pull.await(socket.EventHandshakeFailed); !errors.Is(e.Err, socket.ErrHandshake) {
		t.Errorf("NULL client: %v", e)
	}
	// Two servers do not talk: each waits for a HELLO until the handshake
	// times out.
	pull2 := openSock(t, socket.Pull, socket.WithCurveServer(server.Secret), socket.WithHandshakeTimeout(100*time.Millisecond))
	other := openSock(t, socket.Push, socket.WithCurveServer(newKeys(t).Secret), socket.WithReconnectInterval(time.Hour))
	other.connect(pull2.bind("tcp://127.0.0.1:*"))
	if e := pull2.await(socket.EventHandshakeFailed); !errors.Is(e.Err, socket.ErrHandshake) {
		t.Errorf("server to server: %v", e)
	}
}

// The authenticator sees the client's long-term key: an allowed key
// passes, an unknown one is refused (ErrAuth both sides, nothing
// delivered, and the refused client stops redialling).
func TestCurveAuthenticator(t *testing.T) {
	server, allowed := testServerKeys(t), testClientKeys(t)
	var mu sync.Mutex
	var seen []socket.AuthRequest
	allow := socket.AllowCurveKeys(allowed.Public)
	auth := func(ctx context.Context, r socket.AuthRequest) error {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		return allow(ctx, r)
	}
	pull := openSock(t, socket.Pull, socket.WithCurveServer(server.Secret), socket.WithCurveAuthenticator(auth))
	ep := pull.bind("tcp://127.0.0.1:*")

	stranger := newKeys(t)
	bad := openSock(t, socket.Push, socket.WithCurveClient(server.Public, stranger))
	bad.connect(ep)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := bad.Send(ctx, socket.NewMsgString("intruder")); err != nil {
		t.Fatal(err)
	}
	if e := pull.await(socket.EventHandshakeFailed); !errors.Is(e.Err, socket.ErrAuth) {
		t.Errorf("server: %v, want ErrAuth", e)
	}
	if e := bad.await(socket.EventHandshakeFailed); !errors.Is(e.Err, socket.ErrAuth) {
		t.Errorf("client: %v, want ErrAuth", e)
	}
	if e := bad.await(socket.EventClosed); !errors.Is(e.Err, socket.ErrAuth) {
		t.Errorf("client: %v, want closed with ErrAuth", e)
	}
	mu.Lock()
	r := seen[0]
	mu.Unlock()
	if r.Mechanism != "CURVE" || r.PublicKey != stranger.Public || r.Endpoint != ep || !strings.HasPrefix(r.Remote, "127.0.0.1:") {
		t.Errorf("the authenticator saw %+v", r)
	}

	good := openSock(t, socket.Push, socket.WithCurveClient(server.Public, allowed))
	good.connect(ep)
	good.send("welcome")
	if m := pull.recv(); !equal(m, "welcome") {
		t.Fatalf("got %q", m)
	}
	if m, ok := pull.tryRecv(50 * time.Millisecond); ok {
		t.Fatalf("the refused client's message came through: %q", m)
	}
}

// Certificates: saved as CZMQ does (public and _secret), read back, and
// an authenticator made from a directory of them.
func TestCurveCertFiles(t *testing.T) {
	dir := t.TempDir()
	kp := newKeys(t)
	cert := socket.CurveCert{Public: kp.Public, Secret: kp.Secret, Metadata: map[string]string{"name": "test client", "email": `a"b@c`}}
	path := filepath.Join(dir, "client.key")
	if err := socket.SaveCurveCert(path, cert); err != nil {
		t.Fatal(err)
	}
	pub, err := socket.LoadCurveCert(path)
	if err != nil || pub.Public != kp.Public || !pub.Secret.IsZero() || pub.Metadata["name"] != "test client" || pub.Metadata["email"] != `a"b@c` {
		t.Fatalf("public cert read back as %+v, %v", pub, err)
	}
	sec, err := socket.LoadCurveCert(path + "_secret")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sec.KeyPair(); err != nil || got != kp {
		t.Fatalf("secret cert read back as %v, %v", got, err)
	}
	if fi, err := os.Stat(path + "_secret"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(kp.Secret.String())) {
		t.Error("the public certificate holds the secret key")
	}

	// The directory's keys are allowed, others are not.
	auth, err := socket.AllowCurveKeysIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := auth(ctx, socket.AuthRequest{Mechanism: "CURVE", PublicKey: kp.Public}); err != nil {
		t.Errorf("a key from the directory was refused: %v", err)
	}
	if err := auth(ctx, socket.AuthRequest{Mechanism: "CURVE", PublicKey: newKeys(t).Public}); err == nil {
		t.Error("a key not in the directory was allowed")
	}
	if err := auth(ctx, socket.AuthRequest{Mechanism: "PLAIN", Username: "x"}); err == nil {
		t.Error("a PLAIN client was allowed")
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("not a cert"), 0o644)
	if _, err := socket.AllowCurveKeysIn(dir); !errors.Is(err, socket.ErrBadKey) || !strings.Contains(err.Error(), "junk") {
		t.Errorf("a directory with junk: %v", err)
	}
}

// Hostile certificates are refused with errors that say where.
func TestCurveCertParseErrors(t *testing.T) {
	pub := newKeys(t).Public.String()
	other := newKeys(t)
	for name, text := range map[string]string{
		"empty":        "",
		"no key":       "metadata\ncurve\n",
		"bad z85":      "curve\n    public-key = \"" + strings.Repeat("~", 40) + "\"\n",
		"short key":    "curve\n    public-key = \"abc\"\n",
		"tab":          "curve\n\tpublic-key = \"" + pub + "\"\n",
		"odd indent":   "curve\n  public-key = \"" + pub + "\"\n",
		"too deep":     "curve\n        public-key = \"" + pub + "\"\n",
		"unterminated": "curve\n    public-key = \"" + pub + "\n",
		"trailing":     "curve\n    public-key = \"" + pub + "\" x\n",
		"twice":        "curve\n    public-key = \"" + pub + "\"\n    public-key = \"" + pub + "\"\n",
		"wrong secret": "curve\n    public-key = \"" + pub + "\"\n    secret-key = \"" + other.Secret.String() + "\"\n",
		"big":          strings.Repeat("#", 70<<10),
		"bad name":     "curve\n    =\"x\"\n",
	} {
		if c, err := socket.ParseCurveCert([]byte(text)); !errors.Is(err, socket.ErrBadKey) {
			t.Errorf("%s: %+v, %v; want ErrBadKey", name, c, err)
		}
	}
	// pyzmq's and CZMQ's layout, comments and all.
	c, err := socket.ParseCurveCert([]byte("#   ****  Generated by pyzmq  ****\n\nmetadata\n    name = 'x' # a comment\ncurve\n    public-key = \"" + pub + "\"\n"))
	if err != nil || c.Public.String() != pub || c.Metadata["name"] != "x" {
		t.Fatalf("%+v, %v", c, err)
	}
}

// What passes on the wire is ciphertext: a marker sent in small and large
// messages, both ways, never appears in the bytes a relay sees. The same
// through NULL does appear, so the tap works.
func TestCurveWireTap(t *testing.T) {
	const marker = "MARKER-plaintext-must-not-leak"
	for _, curve := range []bool{true, false} {
		name := "null"
		if curve {
			name = "curve"
		}
		t.Run(name, func(t *testing.T) {
			server, client := testServerKeys(t), testClientKeys(t)
			var sopts, copts []socket.Option
			if curve {
				sopts = []socket.Option{socket.WithCurveServer(server.Secret)}
				copts = []socket.Option{socket.WithCurveClient(server.Public, client)}
			}
			srv := openSock(t, socket.Dealer, sopts...)
			r := newRelay(t, srv.bind("tcp://127.0.0.1:*"))
			cli := openSock(t, socket.Dealer, copts...)
			cli.connect(r.endpoint())
			big := strings.Repeat(marker, 40000)
			for _, m := range []string{marker, big} {
				cli.send(m, "x")
				if got := srv.recv(); got[0] != m {
					t.Fatal("damaged")
				}
				srv.send("y", m)
				if got := cli.recv(); got[1] != m {
					t.Fatal("damaged")
				}
			}
			leaked := bytes.Contains(r.bytesSeen(0), []byte(marker)) || bytes.Contains(r.bytesSeen(1), []byte(marker))
			if leaked != !curve {
				t.Fatalf("marker on the wire: %v", leaked)
			}
		})
	}
}

// A MESSAGE replayed, or two swapped, ends the connection at the receiver
// (EventDisconnected with ErrCurve), whichever way it travels; nothing is
// delivered twice, nor out of order.
func TestCurveNonceReplayReorder(t *testing.T) {
	for _, dir := range []int{0, 1} {
		for _, mode := range []string{"replay", "reorder"} {
			t.Run(mode+[]string{"-to-server", "-to-client"}[dir], func(t *testing.T) {
				server, client := testServerKeys(t), testClientKeys(t)
				srv := openSock(t, socket.Pair, socket.WithCurveServer(server.Secret))
				r := newRelay(t, srv.bind("tcp://127.0.0.1:*"))
				var held []byte
				r.tamper = func(conn, d, n int, frame []byte) [][]byte {
					// Frames 0 and 1 are the handshake; MESSAGEs follow.
					if conn != 0 || d != dir {
						return [][]byte{frame}
					}
					switch {
					case mode == "replay" && n == 3:
						return [][]byte{frame, frame}
					case mode == "reorder" && n == 3:
						held = frame
						return nil
					case mode == "reorder" && n == 4:
						return [][]byte{frame, held}
					}
					return [][]byte{frame}
				}
				cli := openSock(t, socket.Pair, socket.WithCurveClient(server.Public, client))
				cli.connect(r.endpoint())
				from, to := cli, srv
				if dir == 1 {
					from, to = srv, cli
					cli.send("hello") // so that the server's pipe is up before it sends
					if m := srv.recv(); !equal(m, "hello") {
						t.Fatalf("got %q", m)
					}
				}
				for i := range 4 {
					from.send(string(rune('a' + i)))
				}
				e := to.await(socket.EventDisconnected)
				if !errors.Is(e.Err, socket.ErrCurve) {
					t.Fatalf("receiver: %v, want ErrCurve", e)
				}
				var got []string
				for {
					m, ok := to.tryRecv(50 * time.Millisecond)
					if !ok {
						break
					}
					got = append(got, m[0])
				}
				// Nothing twice, nothing out of order. Replay: a and b pass,
				// the copy of b ends the connection. Reorder: a and c pass,
				// b, late, ends it and is lost. What was still queued (c, d)
				// may follow on the next connection.
				joined := strings.Join(got, "")
				wantStart := "ab"
				if mode == "reorder" {
					wantStart = "ac"
				}
				increasing := true
				for i := 1; i < len(joined); i++ {
					increasing = increasing && joined[i-1] < joined[i]
				}
				if !strings.HasPrefix(joined, wantStart) || !increasing || mode == "reorder" && strings.Contains(joined, "b") {
					t.Fatalf("received %q", got)
				}
			})
		}
	}
}

// Heartbeats travel inside MESSAGEs and are answered, whichever side
// sends them: with one side PINGing every few milliseconds, the relay sees
// a hundred commands come back the other way (PONGs: that PAIR sends
// nothing else), and the connection stays up.
func TestCurveHeartbeat(t *testing.T) {
	for _, serverPings := range []bool{false, true} {
		name := "client-pings"
		if serverPings {
			name = "server-pings"
		}
		t.Run(name, func(t *testing.T) {
			server, client := testServerKeys(t), testClientKeys(t)
			hb := socket.WithHeartbeat(5*time.Millisecond, 10*time.Second, 0)
			sopts := []socket.Option{socket.WithCurveServer(server.Secret)}
			copts := []socket.Option{socket.WithCurveClient(server.Public, client)}
			answers := 1 // the direction the PONGs travel
			if serverPings {
				sopts, answers = append(sopts, hb), 0
			} else {
				copts = append(copts, hb)
			}
			srv := openSock(t, socket.Pair, sopts...)
			r := newRelay(t, srv.bind("tcp://127.0.0.1:*"))
			cli := openSock(t, socket.Pair, copts...)
			cli.connect(r.endpoint())
			r.awaitFrames(answers, 2+100) // the handshake's two commands, then PONGs
			for _, s := range []*tsock{srv, cli} {
				for len(s.mon) > 0 {
					if e := <-s.mon; e.Kind == socket.EventDisconnected {
						t.Fatalf("%v", e)
					}
				}
			}
			cli.send("one")
			if m := srv.recv(); !equal(m, "one") {
				t.Fatalf("got %q", m)
			}
			srv.send("two")
			if m := cli.recv(); !equal(m, "two") {
				t.Fatalf("got %q", m)
			}
		})
	}
}
