// Command zmqcat is netcat for ZeroMQ: it opens one socket of any type, binds
// and connects it, sends stdin lines as messages and prints the messages it
// receives as lines. See README.md, or run zmqcat -h.
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
	exitOK      = 0
	exitFail    = 1 // queued messages discarded; bind, send, receive or I/O failed
	exitUsage   = 2 // bad command line
	exitTimeout = 3 // -timeout ran out
)

// run is zmqcat: it returns the exit code. When ctx ends (a signal), it shuts
// the socket down at once, and fails only if that discarded queued messages.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	errOut := &lockedWriter{w: stderr}
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], stdout, errOut)
	}
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
		err = nil // interrupted: not a failure in itself
	}
	code := exitOK
	var timedOut *timeoutError
	switch {
	case errors.As(err, &timedOut):
		code = exitTimeout
	case err != nil:
		code = exitFail
	}
	// A REQ that gave up on its reply has abandoned the request too.
	abandon := timedOut != nil && cfg.typ == socket.Req
	lost := z.finish(ctx, abandon)
	switch {
	case lost != nil && err != nil:
		err = fmt.Errorf("%v; %v", err, lost)
	case lost != nil:
		err, code = lost, exitFail
	case timedOut != nil:
		// Nothing came: an endpoint that never connected is the likely reason.
		if down := z.peers.down(z.connects()); len(down) > 0 {
			err = fmt.Errorf("%v (%s)", err, strings.Join(down, ", "))
		}
	}
	if err != nil {
		errOut.line(err)
	}
	return code
}

// zmqcat is one socket and what it needs to pump lines.
type zmqcat struct {
	cfg   *config
	sock  *socket.Socket
	peers *peers
}

// open makes the socket, subscribes it and binds and connects it, in the
// order given on the command line.
func open(ctx context.Context, cfg *config, errOut *lockedWriter) (*zmqcat, error) {
	var opts []socket.Option
	if cfg.id != "" {
		opts = append(opts, socket.WithIdentity([]byte(cfg.id)))
	}
	if hb := cfg.heartbeat; hb.interval > 0 {
		opts = append(opts, socket.WithHeartbeat(hb.interval, hb.timeout, hb.ttl))
	}
	opts = append(opts, cfg.security...)
	s, err := socket.New(cfg.typ, opts...)
	if err != nil {
		return nil, err
	}
	z := &zmqcat{cfg: cfg, sock: s, peers: trackPeers(s.Monitor(), cfg.verbose, errOut)}
	if err := z.subscribe(ctx); err != nil {
		z.abort()
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
			z.abort()
			return nil, err
		}
	}
	return z, nil
}

// subscribe makes a SUB or XSUB subscribe to -sub, or to everything.
func (z *zmqcat) subscribe(ctx context.Context) error {
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

// finish shuts the socket down. Queued messages go out (including those for
// a connected endpoint not up yet, as libzmq lingers) until they are all out,
// -linger runs out or a signal ends ctx; with abandon, at once. It returns
// an error saying how many messages the socket discarded in its life, at the
// end or when a bound endpoint's peer left with some queued, and, where
// known, which endpoints they were waiting for.
func (z *zmqcat) finish(ctx context.Context, abandon bool) error {
	lctx, cancel := ctx, context.CancelFunc(func() {})
	switch {
	case abandon || z.cfg.linger == 0:
		lctx, cancel = context.WithCancel(ctx)
		cancel()
	case z.cfg.linger > 0:
		lctx, cancel = context.WithTimeout(ctx, z.cfg.linger)
	}
	defer cancel()
	z.peers.shuttingDown()
	err := z.sock.Shutdown(lctx)
	<-z.peers.done
	n := z.sock.Stats().Discarded
	if n == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d queued message%s discarded", n, plural(n))
	if err == nil {
		return errors.New(msg) // earlier: a bound endpoint's peer left
	}
	if ctx.Err() == nil && !abandon {
		msg += fmt.Sprintf(" after -linger %v", z.cfg.linger)
	}
	// Only these types queue for a connected endpoint that is not up.
	switch z.cfg.typ {
	case socket.Push, socket.Dealer, socket.Req, socket.Pair:
		if down := z.peers.down(z.connects()); len(down) > 0 {
			msg += ": " + strings.Join(down, ", ")
		}
	}
	return errors.New(msg)
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// connects lists the endpoints given to -connect.
func (z *zmqcat) connects() []string {
	var eps []string
	for _, e := range z.cfg.endpoints {
		if !e.bind {
			eps = append(eps, e.ep)
		}
	}
	return eps
}

// abort closes the socket without lingering and waits for the last events.
func (z *zmqcat) abort() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	z.sock.Shutdown(ctx)
	<-z.peers.done
}

// lockedWriter writes whole "zmqcat: ..." lines to stderr from any goroutine.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(v any) {
	s, _, _ := strings.Cut(fmt.Sprint(v), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "zmqcat: %s\n", s)
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
