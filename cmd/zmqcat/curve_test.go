package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// keygen writes a certificate pair the socket package reads back, and
// prints the public key.
func TestKeygen(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "server")
	p := start(t, ctx, strings.NewReader(""), "keygen", path)
	pub := p.line()
	p.expectExit(0)
	p.noStderr()
	sec, err := socket.LoadCurveCert(path + "_secret")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sec.KeyPair()
	if err != nil || kp.Public.String() != pub {
		t.Fatalf("FILE_secret holds %v (%v); zmqcat printed %s", kp, err, pub)
	}
	public, err := socket.LoadCurveCert(path)
	if err != nil || public.Public != kp.Public || !public.Secret.IsZero() {
		t.Fatalf("FILE: %+v, %v", public, err)
	}
	if fi, err := os.Stat(path + "_secret"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("FILE_secret mode %v, %v", fi.Mode(), err)
	}

	// Again on the same FILE, or with only FILE_secret there: refused, and
	// the certificates are left as they were.
	before, _ := os.ReadFile(path + "_secret")
	p = start(t, ctx, strings.NewReader(""), "keygen", path)
	p.expectExit(exitFail)
	if want := []string{"zmqcat: keygen: " + path + " exists; not overwritten (peers holding that key would be locked out)"}; !slices.Equal(p.stderr(), want) {
		t.Errorf("keygen again: stderr %q, want %q", p.stderr(), want)
	}
	os.Remove(path)
	p = start(t, ctx, strings.NewReader(""), "keygen", path)
	p.expectExit(exitFail)
	if after, _ := os.ReadFile(path + "_secret"); string(after) != string(before) {
		t.Errorf("keygen again rewrote %s_secret", path)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("keygen with %s_secret there wrote %s", path, path)
	}

	for _, args := range [][]string{{"keygen"}, {"keygen", "a", "b"}, {"keygen", "-x"}} {
		p := start(t, ctx, strings.NewReader(""), args...)
		if code, _ := p.wait(); code != exitUsage {
			t.Errorf("zmqcat %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// A zmqcat CURVE server and a zmqcat CURVE client talk; so do zmqcat and the
// socket package, each way; a client with the wrong server key gets
// nothing through.
func TestCurve(t *testing.T) {
	dir := t.TempDir()
	srv, cli := filepath.Join(dir, "server"), filepath.Join(dir, "client")
	for _, f := range []string{srv, cli} {
		p := start(t, testContext(t), strings.NewReader(""), "keygen", f)
		p.line()
		p.expectExit(0)
	}
	serverCert, _ := socket.LoadCurveCert(srv + "_secret")
	serverKeys, _ := serverCert.KeyPair()
	clientCert, _ := socket.LoadCurveCert(cli + "_secret")
	clientKeys, _ := clientCert.KeyPair()

	t.Run("zmqcat-to-zmqcat", func(t *testing.T) {
		ctx := testContext(t)
		pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-n", "2", "-v", "-curve-server", srv+"_secret", "-curve-allow", dir)
		push := start(t, ctx, strings.NewReader("secret one\nsecret two\n"), "-t", "push", "-connect", pull.endpoint(),
			"-curve-client", cli+"_secret", "-curve-serverkey", serverKeys.Public.String())
		pull.expectExit(0, "secret one", "secret two")
		push.expectExit(0)
		push.noStderr()
	})
	t.Run("server-key-from-file", func(t *testing.T) {
		ctx := testContext(t)
		pull := start(t, ctx, nil, "-t", "pull", "-bind", "ipc://"+filepath.Join(t.TempDir(), "s"), "-n", "1", "-v", "-curve-server", srv+"_secret")
		push := start(t, ctx, strings.NewReader("by file\n"), "-t", "push", "-connect", pull.endpoint(),
			"-curve-client", cli+"_secret", "-curve-serverkey", srv)
		pull.expectExit(0, "by file")
		push.expectExit(0)
	})
	t.Run("zmqcat-server", func(t *testing.T) {
		ctx := testContext(t)
		pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-n", "1", "-v", "-curve-server", srv+"_secret")
		push, err := socket.New(socket.Push, socket.WithCurveClient(serverKeys.Public, clientKeys))
		if err != nil {
			t.Fatal(err)
		}
		defer push.Close()
		if err := push.Connect(pull.endpoint()); err != nil {
			t.Fatal(err)
		}
		if err := push.Send(ctx, socket.NewMsgString("from Go", "2")); err != nil {
			t.Fatal(err)
		}
		pull.expectExit(0, "from Go\t2")
	})
	t.Run("zmqcat-client", func(t *testing.T) {
		ctx := testContext(t)
		pull, err := socket.New(socket.Pull, socket.WithCurveServer(serverKeys.Secret), socket.WithCurveAuthenticator(socket.AllowCurveKeys(clientKeys.Public)))
		if err != nil {
			t.Fatal(err)
		}
		defer pull.Close()
		ep, err := pull.Bind("tcp://127.0.0.1:*")
		if err != nil {
			t.Fatal(err)
		}
		push := start(t, ctx, strings.NewReader("from zmqcat\n"), "-t", "push", "-connect", ep,
			"-curve-client", cli+"_secret", "-curve-serverkey", serverKeys.Public.String())
		m, err := pull.Recv(ctx)
		if err != nil || m.String() != socket.NewMsgString("from zmqcat").String() {
			t.Fatalf("got %v, %v; zmqcat stderr %q", m, err, push.stderr())
		}
		push.expectExit(0)
	})
	t.Run("wrong-server-key", func(t *testing.T) {
		ctx := testContext(t)
		pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-v", "-curve-server", srv+"_secret")
		push := start(t, ctx, nil, "-t", "push", "-connect", pull.endpoint(), "-linger", "0", "-v",
			"-curve-client", cli+"_secret", "-curve-serverkey", clientKeys.Public.String())
		push.write("leak\n")
		pull.waitStderr("handshake")
		push.waitStderr("handshake")
		push.closeStdin()
		push.expectExit(1) // the line never went: discarded at exit
		pull.signal(os.Interrupt)
		pull.expectExit(0)
	})
}
