// Command zcat is netcat for ZeroMQ: it opens one socket of any type, binds
// and connects it, sends stdin lines as messages and prints the messages it
// receives as lines. See README.md, or run zcat -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills at once: the default action.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // bind, connect, send, receive or I/O failed
	exitUsage = 2 // bad command line
)

// run is zcat: it returns the exit code. When ctx ends (a signal), it closes
// the socket and returns exitOK.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	errOut := &lockedWriter{w: stderr}
	cfg, err := parseArgs(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		errOut.line(err)
		return exitUsage
	}
	z, err := open(ctx, cfg, errOut)
	if err != nil {
		errOut.line(err)
		if errors.Is(err, socket.ErrBadEndpoint) || errors.Is(err, socket.ErrBadOption) {
			return exitUsage
		}
		return exitFail
	}
	err = z.serve(ctx, stdin, stdout)
	if ctx.Err() != nil {
		err = nil // interrupted: not a failure
	}
	if ferr := z.finish(ctx); err == nil {
		err = ferr
	}
	if err != nil {
		errOut.line(err)
		return exitFail
	}
	return exitOK
}

// zcat is one socket and what it needs to pump lines.
type zcat struct {
	cfg   *config
	sock  *socket.Socket
	peers *peers
}

// open makes the socket, subscribes it and binds and connects it, in the
// order given on the command line.
func open(ctx context.Context, cfg *config, errOut *lockedWriter) (*zcat, error) {
	opts := []socket.Option{socket.WithLinger(cfg.linger)}
	if cfg.id != "" {
		opts = append(opts, socket.WithIdentity([]byte(cfg.id)))
	}
	s, err := socket.New(cfg.typ, opts...)
	if err != nil {
		return nil, err
	}
	var logf func(socket.Event)
	if cfg.verbose {
		logf = func(ev socket.Event) {
			if ev.Kind != socket.EventListening { // reported by open itself
				errOut.line(ev)
			}
		}
	}
	z := &zcat{cfg: cfg, sock: s, peers: trackPeers(s.Monitor(), logf)}
	if err := z.subscribe(ctx); err != nil {
		z.close()
		return nil, err
	}
	for _, e := range cfg.endpoints {
		if e.bind {
			var got string
			if got, err = s.Bind(e.ep); err == nil && cfg.verbose {
				errOut.line("listening on " + got)
			}
		} else {
			err = s.Connect(e.ep)
		}
		if err != nil {
			z.close()
			return nil, err
		}
	}
	return z, nil
}

// subscribe makes a SUB or XSUB subscribe to -sub, or to everything.
func (z *zcat) subscribe(ctx context.Context) error {
	if z.cfg.typ != socket.Sub && z.cfg.typ != socket.XSub {
		return nil
	}
	subs := z.cfg.subs
	if len(subs) == 0 {
		subs = []string{""}
	}
	for _, prefix := range subs {
		var err error
		if z.cfg.typ == socket.Sub {
			err = z.sock.Subscribe([]byte(prefix))
		} else {
			err = z.sock.Send(ctx, socket.Msg{append([]byte{1}, prefix...)})
		}
		if err != nil {
			return fmt.Errorf("subscribe %q: %w", prefix, err)
		}
	}
	return nil
}

// finish closes the socket. Close lingers while queued messages go out,
// including those for a connected endpoint whose connection is down or not up
// yet, as libzmq does. If the linger period runs out before such an endpoint
// connects, what was queued for it is lost, and finish says so. A signal
// during a normal exit's linger ends the wait at once; after a signal, the
// linger runs its course (a second signal kills zcat).
func (z *zcat) finish(ctx context.Context) error {
	interrupted := ctx.Err() != nil
	begin := time.Now()
	closed := make(chan struct{})
	go func() {
		z.close()
		close(closed)
	}()
	if interrupted {
		<-closed
		return nil
	}
	select {
	case <-closed:
	case <-ctx.Done():
		return nil
	}
	if z.cfg.linger <= 0 || time.Since(begin) < z.cfg.linger {
		return nil // everything queued went out in time
	}
	if missing := z.undelivered(); len(missing) > 0 {
		return fmt.Errorf("linger %v expired before %s connected: messages queued for it are lost",
			z.cfg.linger, strings.Join(missing, ", "))
	}
	return nil
}

// undelivered lists the connected endpoints that may have had messages
// queued when the socket closed: PUSH, DEALER and PAIR queue for an endpoint
// even while it is not connected, and these have not been connected since
// the last send.
func (z *zcat) undelivered() []string {
	switch z.cfg.typ {
	case socket.Push, socket.Dealer, socket.Pair:
	default:
		return nil
	}
	var eps []string
	for _, e := range z.cfg.endpoints {
		if !e.bind {
			eps = append(eps, e.ep)
		}
	}
	return z.peers.undelivered(eps)
}

// close closes the socket, lingering, and waits for the last events.
func (z *zcat) close() {
	z.sock.Close()
	<-z.peers.done
}

// lockedWriter writes whole "zcat: ..." lines to stderr from any goroutine.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(v any) {
	s, _, _ := strings.Cut(fmt.Sprint(v), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "zcat: %s\n", s)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
