package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/patterns"
)

// The guide's Lazy Pirate test, with a real server process: it hangs on the
// third request, the test kills it and starts another on the same endpoint,
// and the client, after a timeout, reopens its socket, resends, and gets
// every reply.
func TestLazyPirateSurvivesServerRestart(t *testing.T) {
	bin := buildTestproc(t) // before the clock starts: a build may be slow
	ctx := testCtx(t)
	ep := endpoint(t, "ipc")
	server := startProc(t, bin, "echo", "-bind", ep, "-hold", "3")
	server.expect(t, "ready")

	// Retries enough to resend for as long as the test waits: the restart
	// takes a process start, which a busy machine may make slow.
	const timeout = 300 * time.Millisecond
	req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{},
		patterns.Connect(ep), patterns.LazyPirate(timeout, int(wait/timeout))))
	var p patterns.Pipeline
	p.Go(req.Run)
	replies := make(chan string, 6)
	p.Go(func(ctx context.Context) error {
		for i := 1; i <= 6; i++ {
			r, err := req.Request(ctx, fmt.Sprint(i))
			if err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			replies <- r
		}
		return patterns.ErrStop
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	server.expect(t, "holding") // request 3 is in, and will not be answered
	server.kill(t)
	restarted := startProc(t, bin, "echo", "-bind", ep)
	restarted.expect(t, "ready")

	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("client did not finish")
	}
	close(replies)
	var got []string
	for r := range replies {
		got = append(got, r)
	}
	if want := "echo: 1,echo: 2,echo: 3,echo: 4,echo: 5,echo: 6"; strings.Join(got, ",") != want {
		t.Fatalf("replies %q, want %s", got, want)
	}
	restarted.stop(t)
}

// With no server at all, the request fails with ErrNoReply after the last
// retry, and the stage goes on serving requests.
func TestLazyPirateGivesUp(t *testing.T) {
	ctx := testCtx(t)
	req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{},
		patterns.Connect(endpoint(t, "ipc")), patterns.LazyPirate(50*time.Millisecond, 2)))
	var p patterns.Pipeline
	p.Go(req.Run)
	p.Go(func(ctx context.Context) error {
		for range 2 {
			start := time.Now()
			_, err := req.Request(ctx, "anyone?")
			if !errors.Is(err, patterns.ErrNoReply) || !strings.Contains(err.Error(), "3 attempts") {
				return fmt.Errorf("Request: %v, want ErrNoReply after 3 attempts", err)
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				return fmt.Errorf("gave up after %v, before 3 timeouts of 50ms", d)
			}
		}
		return patterns.ErrStop
	})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// Without LazyPirate a request waits as long as its ctx; when that ends the
// REQ socket is replaced, so the next request can go out.
func TestReqRecoversFromCallerTimeout(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	rep := must[*patterns.Rep[string, string]](t)(patterns.NewRep(patterns.String{}, patterns.String{},
		func(ctx context.Context, q string) (string, error) {
			if q == "slow" {
				select {
				case <-release:
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			return "re: " + q, nil
		}, patterns.Bind(endpoint(t, "inproc"))))
	req := must[*patterns.Req[string, string]](t)(patterns.NewReq(patterns.String{}, patterns.String{}, patterns.Connect(rep.Endpoint())))
	var p patterns.Pipeline
	p.Go(rep.Run)
	p.Go(req.Run)
	p.Go(func(ctx context.Context) error {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := req.Request(short, "slow")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("slow request: %v, want DeadlineExceeded", err)
		}
		close(release) // the server answers the old socket, which is gone
		r, err := req.Request(ctx, "next")
		if err != nil || r != "re: next" {
			return fmt.Errorf("next request: %q, %v", r, err)
		}
		return patterns.ErrStop
	})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
