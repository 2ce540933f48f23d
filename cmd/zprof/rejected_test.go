package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// lockedBuffer is a strings.Builder for one writer and one reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A batch over MaxBatchBytes never reaches the collector's Recv: its PULL
// ends the sender's connection on the frame header. The collector still
// counts it as rejected and says so on stderr, as it does for a batch
// that does not decode, and goes on taking in batches.
func TestCollectReportsOversizeBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	out, outW := io.Pipe()
	var stderr lockedBuffer
	code := make(chan int, 1)
	db := filepath.Join(t.TempDir(), "z.db")
	go func() {
		code <- run(ctx, []string{"collect", "-bind", "tcp://127.0.0.1:0", "-db", db}, outW, &stderr)
		outW.Close()
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("zprof collect said nothing")
	}
	m := regexp.MustCompile(`collecting on (\S+),`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("zprof collect said %q", lines.Text())
	}

	push, err := socket.New(socket.Push, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(m[1]); err != nil {
		t.Fatal(err)
	}
	huge := make([]byte, telemetry.MaxBatchBytes+1)
	if err := push.Send(ctx, socket.Msg{[]byte(telemetry.Version), huge}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stderr.String(), "batch rejected (1 so far)") {
		select {
		case <-ctx.Done():
			t.Fatalf("no rejection reported; stderr %q", stderr.String())
		case <-time.After(10 * time.Millisecond): // stderr has no event to await
		}
	}
	if s := stderr.String(); !strings.Contains(s, "larger than the maximum message size") {
		t.Errorf("stderr %q does not say why", s)
	}
	cancel()
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if c := <-code; c != exitOK {
		t.Errorf("exit %d", c)
	}
	if len(rest) == 0 || !strings.HasSuffix(rest[len(rest)-1], ", 1 rejected") {
		t.Errorf("last lines %q, want 1 rejected", rest)
	}
}
