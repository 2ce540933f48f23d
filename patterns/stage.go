package patterns

import (
	"errors"
	"fmt"
	"sync"

	"github.com/zmqflow/zmqflow/socket"
)

// stage is the part every socket-owning stage shares: the socket, made,
// bound and connected by the stage's constructor (so that Endpoint is known
// before anything runs), then used only by the goroutine(s) running the
// stage, and closed when that run ends.
type stage struct {
	typ socket.Type
	cfg config

	mu        sync.Mutex // guards the fields below: Close may come from any goroutine
	sock      *socket.Socket
	endpoints []string // what Bind returned, in order
	started   bool
	closed    bool
	closeErr  error
}

func newStage(t socket.Type, opts []Option) (*stage, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &stage{typ: t, cfg: cfg}
	sock, eps, err := s.open(cfg.binds)
	if err != nil {
		return nil, err
	}
	s.sock, s.endpoints = sock, eps
	return s, nil
}

// open makes a socket of the stage's type and binds and connects it.
func (s *stage) open(binds []string) (*socket.Socket, []string, error) {
	sock, err := socket.New(s.typ, s.cfg.sockOpts...)
	if err != nil {
		return nil, nil, err
	}
	eps := make([]string, 0, len(binds))
	for _, ep := range binds {
		got, err := sock.Bind(ep)
		if err != nil {
			sock.Close()
			return nil, nil, err
		}
		eps = append(eps, got)
	}
	for _, ep := range s.cfg.connects {
		if err := sock.Connect(ep); err != nil {
			sock.Close()
			return nil, nil, err
		}
	}
	return sock, eps, nil
}

// reopen replaces the socket with a fresh one on the same endpoints (Lazy
// Pirate). It is called from the run goroutine only.
func (s *stage) reopen() (*socket.Socket, error) {
	s.mu.Lock()
	old, eps := s.sock, s.endpoints
	s.mu.Unlock()
	abort(old, eps, s.cfg.connects)
	old.Close() // quick: abort dropped what was queued
	sock, _, err := s.open(eps)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if s.closed {
		sock.Close()
		return nil, fmt.Errorf("%w: %v stage", ErrClosed, s.typ)
	}
	s.sock = sock
	return sock, nil
}

// begin marks the stage as running and returns its socket; a stage runs once.
func (s *stage) begin() (*socket.Socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return nil, fmt.Errorf("%w: %v stage already ran or was closed", ErrClosed, s.typ)
	}
	s.started = true
	return s.sock, nil
}

// end closes the socket after a run that ended with err. After a clean end
// the socket lingers while queued messages go out (socket.WithLinger). After
// a failure or a cancelled ctx the pipeline is being abandoned: the socket
// leaves its endpoints first, dropping what is queued, so Close does not wait
// for peers that may be gone. It returns err, or the close error if err is nil.
func (s *stage) end(err error) error {
	if err != nil {
		s.mu.Lock()
		sock, eps := s.sock, s.endpoints
		s.mu.Unlock()
		abort(sock, eps, s.cfg.connects)
	}
	cerr := s.Close()
	if err == nil {
		err = cerr
	}
	return err
}

func abort(sock *socket.Socket, binds, connects []string) {
	for _, ep := range binds {
		sock.Unbind(ep)
	}
	for _, ep := range connects {
		sock.Disconnect(ep)
	}
}

// Close closes the socket; later calls return the first call's result.
func (s *stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.closeErr = s.sock.Close()
		if errors.Is(s.closeErr, socket.ErrClosed) {
			s.closeErr = nil
		}
	}
	return s.closeErr
}

// Endpoint returns the first endpoint the stage bound, as Bind resolved it
// ("tcp://127.0.0.1:40123" for "tcp://127.0.0.1:*"), or "" if it only
// connects.
func (s *stage) Endpoint() string {
	if len(s.endpoints) == 0 {
		return ""
	}
	return s.endpoints[0]
}

// badMsg hands a decode error to the stage's handler.
func (s *stage) badMsg(err error) error { return s.cfg.onDecodeError(err) }

// wrap adds the stage's socket type to an error from its socket.
func (s *stage) wrap(op string, err error) error {
	return fmt.Errorf("patterns: %v stage: %s: %w", s.typ, op, err)
}
