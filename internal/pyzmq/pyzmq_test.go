package pyzmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds each test's waits, Python's starts included: a busy
// machine took more than 5 s to start two peers and pass a message.
const testTimeout = 30 * time.Second

func TestInteropHelperStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := Start(t, "import sys\nprint('READY x')\nfor l in sys.stdin:\n    print('got', l.strip())\n")
	if l, err := p.Line(ctx); err != nil || l != "READY x" {
		t.Fatalf("Line = %q, %v; want READY x", l, err)
	}
	if err := p.Writeln("hello"); err != nil {
		t.Fatal(err)
	}
	if l, err := p.Line(ctx); err != nil || l != "got hello" {
		t.Fatalf("Line = %q, %v; want got hello", l, err)
	}
	p.CloseInput()
	if _, err := p.Line(ctx); !errors.Is(err, ErrExited) {
		t.Fatalf("Line after exit: %v, want ErrExited", err)
	}
}

func TestInteropHelperPairEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := Socket(t, "PAIR", "--bind", "tcp://127.0.0.1:*", "--echo")
	b := Socket(t, "PAIR", "--connect", a.Endpoint())
	msg := [][]byte{nil, []byte("x"), {}, bytes.Repeat([]byte{0, 0xff}, 70<<10)}
	if err := b.Send(msg...); err != nil {
		t.Fatal(err)
	}
	got, err := b.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msg) {
		t.Fatalf("got %d frames, want %d", len(got), len(msg))
	}
	for i := range msg {
		if !bytes.Equal(got[i], msg[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if _, err := a.WaitEvent(ctx, "ACCEPTED"); err != nil {
		t.Fatal(err)
	}
}

// fakeTB records what Python asks of its test instead of ending it.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skip(args ...any)                  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestInteropHelperNoPython(t *testing.T) {
	saved := candidate
	reset := func() { findOnce, found, notFound = sync.Once{}, "", "" }
	t.Cleanup(func() { candidate = saved; reset() })
	candidate = []string{"/nonexistent/python3"}

	reset()
	t.Setenv(RequireEnv, "")
	f := &fakeTB{TB: t}
	if py := Python(f); py != "" || !strings.Contains(f.skipped, "no Python interpreter with pyzmq") || f.fatal != "" {
		t.Errorf("without pyzmq: Python = %q, skipped %q, fatal %q; want a skip", py, f.skipped, f.fatal)
	}

	reset()
	t.Setenv(RequireEnv, "1")
	f = &fakeTB{TB: t}
	if py := Python(f); py != "" || !strings.Contains(f.fatal, RequireEnv) || f.skipped != "" {
		t.Errorf("without pyzmq, %s=1: Python = %q, skipped %q, fatal %q; want a failure", RequireEnv, py, f.skipped, f.fatal)
	}
}
