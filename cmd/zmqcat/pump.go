package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// serve pumps stdin to the socket and the socket to stdout, as the type's
// role says, until the work is done (stdin EOF, -n), an error, or ctx ends.
func (z *zmqcat) serve(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // also stops the stdin reader
	out := &printer{w: bufio.NewWriter(stdout), delim: z.cfg.delim}
	switch roleOf(z.cfg.typ) {
	case sendOnly:
		return z.sendLines(ctx, readLines(ctx, stdin), z.cfg.n)
	case recvOnly:
		return z.recvLines(ctx, out)
	case requester:
		return z.request(ctx, readLines(ctx, stdin), out)
	case replier:
		return z.reply(ctx, out)
	}
	// duplex: receive until -n or an error; stdin EOF ends only the sending.
	sent := make(chan error, 1)
	go func() { sent <- z.sendLines(ctx, readLines(ctx, stdin), 0) }()
	recvd := make(chan error, 1)
	go func() { recvd <- z.recvLines(ctx, out) }()
	for {
		select {
		case err := <-recvd:
			return err
		case err := <-sent:
			if err != nil {
				return err
			}
			sent = nil // stdin EOF: keep receiving
		}
	}
}

// waitToSend holds the first send back for -wait-peers and -wait.
func (z *zmqcat) waitToSend(ctx context.Context) error {
	if z.cfg.waitPeers > 0 {
		if err := z.peers.atLeast(ctx, z.cfg.waitPeers); err != nil {
			return err
		}
		if t := z.cfg.typ; t == socket.Pub || t == socket.XPub {
			// A subscriber is not there until its subscription is.
			if err := subscribersAtLeast(ctx, z.sock, z.cfg.waitPeers); err != nil {
				return err
			}
		}
	}
	if z.cfg.wait > 0 {
		return sleep(ctx, z.cfg.wait)
	}
	return nil
}

// sendLines sends each stdin line as a message, until EOF or limit messages
// (0: no limit).
func (z *zmqcat) sendLines(ctx context.Context, lines <-chan line, limit int) error {
	if err := z.waitToSend(ctx); err != nil {
		return err
	}
	for sent := 0; limit == 0 || sent < limit; sent++ {
		b, err := next(ctx, lines)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := z.sock.Send(ctx, splitFrames(b, z.cfg.delim)); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

// recvLines prints each message received, until -n of them.
func (z *zmqcat) recvLines(ctx context.Context, out *printer) error {
	for got := 0; z.cfg.n == 0 || got < z.cfg.n; got++ {
		m, err := z.recv(ctx, "nothing received")
		if err != nil {
			return err
		}
		if err := out.print(m); err != nil {
			return err
		}
	}
	return nil
}

// request sends each stdin line and prints its reply, until EOF or -n.
func (z *zmqcat) request(ctx context.Context, lines <-chan line, out *printer) error {
	if err := z.waitToSend(ctx); err != nil {
		return err
	}
	for n := 0; z.cfg.n == 0 || n < z.cfg.n; n++ {
		b, err := next(ctx, lines)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		m, err := z.roundTrip(ctx, splitFrames(b, z.cfg.delim))
		if err != nil {
			return err
		}
		if err := out.print(m); err != nil {
			return err
		}
	}
	return nil
}

// reply prints each request and answers it with itself or -reply, until -n.
func (z *zmqcat) reply(ctx context.Context, out *printer) error {
	for n := 0; z.cfg.n == 0 || n < z.cfg.n; n++ {
		m, err := z.recv(ctx, "no request")
		if err != nil {
			return err
		}
		if err := out.print(m); err != nil {
			return err
		}
		if z.cfg.reply != nil {
			m = z.cfg.reply // never modified, so it may go out again and again
		}
		if err := z.sock.Send(ctx, m); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

// timeoutError is -timeout running out: zmqcat exits 3.
type timeoutError struct {
	what string // what did not come: "nothing received", "no reply", ...
	d    time.Duration
}

func (e *timeoutError) Error() string { return fmt.Sprintf("%s within %v", e.what, e.d) }

// withTimeout bounds a wait by -timeout, if given.
func (z *zmqcat) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if z.cfg.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, z.cfg.timeout)
}

// waitErr is the error of a wait bounded by tctx, a -timeout child of ctx:
// a timeoutError if -timeout ran out, else err with op before it.
func (z *zmqcat) waitErr(ctx, tctx context.Context, err error, op, what string) error {
	if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return &timeoutError{what: what, d: z.cfg.timeout}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// recv receives a message within -timeout; what says what did not come.
func (z *zmqcat) recv(ctx context.Context, what string) (socket.Msg, error) {
	tctx, cancel := z.withTimeout(ctx)
	defer cancel()
	m, err := z.sock.Recv(tctx)
	if err != nil {
		return nil, z.waitErr(ctx, tctx, err, "receive", what)
	}
	return m, nil
}

// roundTrip sends a REQ's request and receives its reply. -timeout bounds
// both: a REQ with no peer at all waits in Send.
func (z *zmqcat) roundTrip(ctx context.Context, req socket.Msg) (socket.Msg, error) {
	tctx, cancel := z.withTimeout(ctx)
	defer cancel()
	if err := z.sock.Send(tctx, req); err != nil {
		return nil, z.waitErr(ctx, tctx, err, "send", "no reply")
	}
	m, err := z.sock.Recv(tctx)
	if err != nil {
		return nil, z.waitErr(ctx, tctx, err, "receive", "no reply")
	}
	return m, nil
}

// printer writes messages to stdout, one line each, flushed at once.
type printer struct {
	w     *bufio.Writer
	delim []byte
	buf   []byte
}

func (p *printer) print(m socket.Msg) error {
	p.buf = joinFrames(p.buf[:0], m, p.delim)
	if _, err := p.w.Write(p.buf); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	return nil
}

// line is one stdin line without its newline, or the error that ended stdin
// (io.EOF at the end).
type line struct {
	b   []byte
	err error
}

// readLines reads stdin in its own goroutine, so that a signal or -n is not
// stuck behind a blocked read. It stops at the end of stdin or of ctx (a read
// already under way is abandoned: the process is about to exit).
func readLines(ctx context.Context, r io.Reader) <-chan line {
	ch := make(chan line)
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		send := func(l line) bool {
			select {
			case ch <- l:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			b, err := br.ReadBytes('\n')
			if err == nil {
				b = b[:len(b)-1]
			}
			if (err == nil || err == io.EOF && len(b) > 0) && !send(line{b: b}) {
				return
			}
			if err != nil {
				send(line{err: err})
				return
			}
		}
	}()
	return ch
}

// next is the next stdin line, io.EOF at the end, or ctx's error.
func next(ctx context.Context, lines <-chan line) ([]byte, error) {
	select {
	case l := <-lines:
		if l.err != nil && l.err != io.EOF {
			return nil, fmt.Errorf("stdin: %w", l.err)
		}
		return l.b, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// subscribersAtLeast waits until n peers of a PUB or XPUB have subscribed.
// The socket has no event for a subscription's arrival: look every few
// milliseconds, which is short beside a human's wait and long beside a
// loopback round trip.
func subscribersAtLeast(ctx context.Context, s *socket.Socket, n int) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.Stats().Subscribers < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
