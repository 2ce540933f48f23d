// Rrbroker is the simple request-reply broker of "ZeroMQ - The Guide",
// chapter 2, "Shared Queue (DEALER and ROUTER sockets)" (the guide's
// rrbroker), in Go: a ROUTER for clients and a DEALER for workers, and one
// loop that moves each message, whole, from whichever socket has one to the
// other, with socket.Poll. Clients are REQ sockets (rrclient), workers REP
// sockets (rrworker); the envelope ROUTER puts on a request takes its
// reply back to the client that sent it.
//
// Unlike the guide's, its loop never blocks on a send: a request for which
// no worker has room waits until one has (PollOut on the DEALER), and
// meanwhile the broker reads no more requests, so clients feel the
// back-pressure. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	frontEP = flag.String("frontend", "tcp://*:5559", "where clients (REQ) connect")
	backEP  = flag.String("backend", "tcp://*:5560", "where workers (REP) connect")
	stats   = flag.Duration("stats", time.Second, "print the counts when nothing has moved for this long, if they changed (0: only at exit)")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rrbroker: unexpected argument %q: rrbroker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rrbroker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	frontend, err := socket.New(socket.Router, socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer frontend.Close()
	backend, err := socket.New(socket.Dealer, socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer backend.Close()
	fe, err := frontend.Bind(*frontEP)
	if err != nil {
		return err
	}
	be, err := backend.Bind(*backEP)
	if err != nil {
		return err
	}
	fmt.Printf("I: clients on %s, workers on %s\n", fe, be)

	requests := link{from: frontend, to: backend}
	replies := link{from: backend, to: frontend}
	defer func() {
		// A reply whose client has gone is dropped by the ROUTER, as in
		// libzmq; say how many were.
		fmt.Printf("I: %d requests, %d replies, %d replies for clients gone\n",
			requests.moved, replies.moved, frontend.Stats().Dropped)
	}()
	// The poll set: each link waits either for a message to move (PollIn
	// on its source) or, holding one, for room (PollOut on its
	// destination).
	items := make([]socket.PollItem, 4)
	printed := [2]int{}
	for {
		items[0], items[1] = requests.wants()
		items[2], items[3] = replies.wants()
		// A timeout, as the guide's zmq_poll takes one: when nothing has
		// moved for -stats, say how much did before.
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if *stats > 0 {
			pctx, cancel = context.WithTimeout(ctx, *stats)
		}
		_, err := socket.Poll(pctx, items)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil // Ctrl-C
		case errors.Is(err, context.DeadlineExceeded):
			if now := [2]int{requests.moved, replies.moved}; now != printed {
				fmt.Printf("I: %d requests, %d replies\n", now[0], now[1])
				printed = now
			}
			continue
		case err != nil:
			return err
		}
		if err := requests.move(items[0], items[1]); err != nil {
			return err
		}
		if err := replies.move(items[2], items[3]); err != nil {
			return err
		}
	}
}

// link moves messages one way, from one socket to the other.
type link struct {
	from, to *socket.Socket
	held     socket.Msg // received, waiting for room in to
	moved    int
}

// wants is the link's two poll items: PollIn on from while it holds
// nothing, PollOut on to while it does.
func (l *link) wants() (socket.PollItem, socket.PollItem) {
	if l.held == nil {
		return socket.PollItem{Socket: l.from, Events: socket.PollIn}, socket.PollItem{}
	}
	return socket.PollItem{}, socket.PollItem{Socket: l.to, Events: socket.PollOut}
}

// move takes a message if from is ready and sends what it holds if to is.
func (l *link) move(from, to socket.PollItem) error {
	if from.Ready&socket.PollIn != 0 {
		m, err := l.from.TryRecv()
		switch {
		case errors.Is(err, socket.ErrWouldBlock):
			return nil
		case err != nil:
			return err
		}
		l.held = m
	} else if to.Ready&socket.PollOut == 0 {
		return nil
	}
	switch err := l.to.TrySend(l.held); {
	case errors.Is(err, socket.ErrWouldBlock):
		return nil // kept: the next Poll waits for room
	case err != nil:
		return err
	}
	l.held = nil
	l.moved++
	return nil
}
