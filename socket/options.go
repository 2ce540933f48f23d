package socket

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Option configures a socket at creation. Options are made only by the With
// functions of this package.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// Defaults, libzmq 4.3's unless said otherwise.
const (
	// DefaultHWM is the send and receive high-water mark: messages queued
	// for each peer, and from each peer for the application.
	DefaultHWM = 1000
	// DefaultReconnectInterval is the first wait before redialling a lost or
	// refused peer.
	DefaultReconnectInterval = 100 * time.Millisecond
	// DefaultLinger bounds how long Close waits for queued messages to go out.
	// libzmq waits forever by default; a Close that can hang forever on a dead
	// peer is a trap, so ours gives up after this long.
	DefaultLinger = 30 * time.Second
	// DefaultHandshakeTimeout drops a peer that has not finished the ZMTP
	// handshake in this time (libzmq's ZMQ_HANDSHAKE_IVL).
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHandshakes bounds the connections a bound endpoint holds in
	// the ZMTP handshake at once (libzmq has no such bound). Each costs a
	// file descriptor and a few KB until it finishes or times out (up to
	// about 40 KB for one that stops in the middle of a large command).
	DefaultMaxHandshakes = 1024
	// DefaultMaxMsgSize bounds a message read from a tcp or ipc peer. libzmq
	// has no bound by default; without one, any client that announces a huge
	// frame makes the reader allocate it. Use WithMaxMsgSize(-1) for none.
	DefaultMaxMsgSize = 256 << 20
)

type options struct {
	sendHWM, recvHWM    int
	linger              time.Duration
	reconnectIvl        time.Duration
	reconnectIvlMax     time.Duration
	handshakeTimeout    time.Duration
	maxHandshakes       int
	maxPeers            int // 0: no bound
	maxMsgSize          int64
	recvBudget          int64 // 0: no bound
	identity            []byte
	routerMandatory     bool
	plainUser, plainPwd string
	plainClient         bool
	plainAuth           Authenticator
	curve               curveConfig
	redialAuth          bool
	logger              *zap.Logger
	hbInterval          time.Duration // 0: no heartbeats of ours
	hbTimeout           time.Duration
	hbTTL               time.Duration
	onDiscard           func(Msg) // WithDiscarded's
	libzmqOptions                 // options_libzmq.go
}

func defaultOptions() options {
	return options{
		sendHWM:          DefaultHWM,
		recvHWM:          DefaultHWM,
		linger:           DefaultLinger,
		reconnectIvl:     DefaultReconnectInterval,
		handshakeTimeout: DefaultHandshakeTimeout,
		maxHandshakes:    DefaultMaxHandshakes,
		maxMsgSize:       DefaultMaxMsgSize,
		logger:           zap.NewNop(),
	}
}

// WithSendHWM sets the send high-water mark: how many messages may wait for
// each peer. At the mark PUSH, DEALER, REQ and PAIR block the sender (within
// its ctx), PUB and XPUB drop for that subscriber, ROUTER drops (or blocks
// with WithRouterMandatory). n must be at least 1.
func WithSendHWM(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: send HWM %d, want >= 1", ErrBadOption, n)
		}
		o.sendHWM = n
		return nil
	})
}

// WithRecvHWM sets the receive high-water mark: how many messages from each
// peer may wait for the application (Recv takes them in turn, one peer after
// another). A peer at the mark is not read from until the application has
// taken some of its messages (half the mark, at most 256, as libzmq's
// low-water mark); TCP flow control then makes its sender meet its own
// mark. n must be at least 1.
func WithRecvHWM(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: receive HWM %d, want >= 1", ErrBadOption, n)
		}
		o.recvHWM = n
		return nil
	})
}

// WithLinger sets how long Close keeps sending queued messages to connected
// peers. 0 discards them at once; a negative value waits without bound.
func WithLinger(d time.Duration) Option {
	return optionFunc(func(o *options) error { o.linger = d; return nil })
}

// WithDiscarded calls f with each message the socket discards unsent (those
// Stats().Discarded counts): queued for a peer that went away (an inproc
// peer's receive queue when it closes), or for a Connect whose peer never
// came, or still queued when Close or Shutdown gave up. It is how a
// message lost that way is reported rather than only counted. f is called
// from whichever goroutine discards (a connection's, Close's, or that of a
// call such as Send, Subscribe or Disconnect that met an inproc peer as it
// closed), after the socket's locks are released, and must not block; it
// may keep m. It must not close its own socket: a Close or Shutdown waits
// for the one under way, which may be the one that called it.
func WithDiscarded(f func(m Msg)) Option {
	return optionFunc(func(o *options) error { o.onDiscard = f; return nil })
}

// WithReconnectInterval sets the first wait before redialling a peer. Each
// failed attempt doubles the wait up to WithReconnectIntervalMax.
func WithReconnectInterval(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: reconnect interval %v, want > 0", ErrBadOption, d)
		}
		o.reconnectIvl = d
		return nil
	})
}

// WithReconnectIntervalMax caps the back-off between redials. 0 (the default,
// as libzmq) means no back-off: every redial waits the reconnect interval.
func WithReconnectIntervalMax(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: reconnect interval max %v, want >= 0", ErrBadOption, d)
		}
		o.reconnectIvlMax = d
		return nil
	})
}

// WithHandshakeTimeout sets how long a new connection may take to finish the
// ZMTP greeting and security handshake.
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: handshake timeout %v, want > 0", ErrBadOption, d)
		}
		o.handshakeTimeout = d
		return nil
	})
}

// WithMaxHandshakes bounds how many connections each bound tcp or ipc
// endpoint holds in the ZMTP handshake at once. A connection beyond the
// bound closes the one that has waited longest (EventHandshakeFailed with
// ErrHandshakeLimit): clients that connect and say nothing, to use up file
// descriptors and memory, cannot keep a peer that handshakes at once from
// getting in. n must be at least 1.
func WithMaxHandshakes(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max handshakes %d, want >= 1", ErrBadOption, n)
		}
		o.maxHandshakes = n
		return nil
	})
}

// WithMaxPeers bounds how many peers each bound tcp or ipc endpoint keeps
// connected at once: a connection beyond the bound is closed, as it is
// accepted or as its handshake ends, with an EventHandshakeFailed whose Err
// wraps ErrPeerLimit; the peers already in keep their place. Every peer
// costs the socket its buffers and goroutines for as long as it stays, so
// that a socket bound where anyone can connect (a collector on an open
// network, say) bounds what strangers may cost it; it does not keep them
// from taking every place (CURVE does that). libzmq has no such bound, and
// a socket has none unless given one. n must be at least 1.
func WithMaxPeers(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max peers %d, want >= 1", ErrBadOption, n)
		}
		o.maxPeers = n
		return nil
	})
}

// WithMaxMsgSize bounds the size of a message read from a tcp or ipc peer,
// all frames together, as libzmq's ZMQ_MAXMSGSIZE. A peer announcing more
// is disconnected before the frame is read. So that a message of very many
// small or empty frames cannot cost more than its payload suggests, each
// frame also counts 128 bytes toward a second bound of twice n: what one
// message costs the reader stays within 2n whatever its shape. -1 removes
// both bounds; frames over 64 KiB are then still allocated as their bytes
// arrive, never from their header alone.
func WithMaxMsgSize(n int64) Option {
	return optionFunc(func(o *options) error {
		if n < -1 || n == 0 {
			return fmt.Errorf("%w: max message size %d, want > 0 or -1", ErrBadOption, n)
		}
		o.maxMsgSize = n
		return nil
	})
}

// WithRecvBudget bounds in bytes what the socket holds received from its
// tcp and ipc peers, all of them together: the messages waiting for Recv,
// and those being read. The receive high-water mark bounds each peer's
// queue in messages, so that without this bound a socket with many peers
// sending large messages holds the mark's worth of them for each; a socket
// bound where anyone can connect should set both this and WithMaxPeers.
//
// Each frame counts its payload and 128 bytes beside it from the moment it
// is read (before its body is allocated) until Recv, TryRecv or
// TryRecvBatch takes its message or the socket drops it; a frame over 64
// KiB counts half its size again while it is read, for the pieces it is
// read in. What each connection holds beside, its goroutines and buffers
// (a read buffer of up to 64 KiB while its peer sends fast), is not
// counted: WithMaxPeers bounds that.
//
// A connection whose next frame does not fit stops reading from its peer
// until Recv makes room, as at the high-water mark (TCP flow control then
// holds the sender at its own mark); connections waiting for room get it
// in the order they began to wait. Two exceptions keep the socket from
// stopping for good, and the two together pass the bound by one message
// at most (itself within WithMaxMsgSize): a message larger than n is read
// once the socket holds nothing else, and one connection at a time may
// finish a message it has begun, so that connections each holding part of
// a message cannot hold the whole budget between them with nothing whole
// for Recv to take. Once Close begins, nothing waits.
//
// Messages from inproc peers are not counted: they are the sender's own.
// libzmq has no such bound, and a socket has none unless given one. n must
// be at least 1.
func WithRecvBudget(n int64) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: receive budget %d bytes, want >= 1", ErrBadOption, n)
		}
		o.recvBudget = n
		return nil
	})
}

// WithIdentity sets the routing identity this socket announces to its peers;
// a ROUTER peer addresses us by it. 1 to 255 bytes, not starting with a zero
// byte (reserved for generated identities, as in libzmq).
func WithIdentity(id []byte) Option {
	return optionFunc(func(o *options) error {
		if len(id) == 0 || len(id) > 255 || id[0] == 0 {
			return fmt.Errorf("%w: identity must be 1-255 bytes, not starting with 0x00", ErrBadOption)
		}
		o.identity = append([]byte(nil), id...)
		return nil
	})
}

// WithRouterMandatory makes a ROUTER report what it would otherwise drop
// silently: Send to an identity that is not connected fails with
// ErrHostUnreachable, and Send to a peer at its high-water mark blocks.
// ROUTER only.
func WithRouterMandatory() Option {
	return optionFunc(func(o *options) error {
		o.only("WithRouterMandatory", Router)
		o.routerMandatory = true
		return nil
	})
}

// WithPlainClient makes the socket authenticate to its peers with the ZMTP
// PLAIN mechanism (RFC 24). PLAIN sends the password in clear text: use it on
// trusted networks or under a tunnel.
func WithPlainClient(username, password string) Option {
	return optionFunc(func(o *options) error {
		if len(username) > 255 || len(password) > 255 {
			return fmt.Errorf("%w: PLAIN username and password are at most 255 bytes", ErrBadOption)
		}
		o.plainClient, o.plainUser, o.plainPwd = true, username, password
		return nil
	})
}

// AuthRequest is what an authenticator knows of a peer that asks to
// connect, as ZAP's request (RFC 27) has it: how it authenticates, where it
// comes from, and who it says it is.
type AuthRequest struct {
	Mechanism string   // "PLAIN" or "CURVE"
	Endpoint  string   // our endpoint the peer reached, as bound or connected
	Remote    string   // the peer's address ("host:port" for tcp; for ipc, usually empty)
	Username  string   // PLAIN
	Password  string   // PLAIN
	PublicKey CurveKey // CURVE: the client's long-term public key, which it has shown it owns
}

// Authenticator decides whether a peer may connect: nil accepts it, an error
// refuses it (the peer gets ZMTP's ERROR, and EventHandshakeFailed carries
// ErrAuth and the error). It is called from each connection's own
// goroutine, possibly for several connections at once, so it must be safe
// for concurrent use. It may block, to slow a guesser down or to ask a
// service, until ctx ends: at the handshake timeout, when the socket closes,
// or when the connection is dropped to make room (WithMaxHandshakes). Close
// and Shutdown wait for the calls under way to return. Remote lets it count
// failures by address and refuse, or delay, a peer that fails too often.
type Authenticator func(ctx context.Context, r AuthRequest) error

// WithPlainServer makes the socket the PLAIN server of its connections: every
// peer must present a username and password that auth accepts, or it is
// disconnected with ErrAuth.
func WithPlainServer(auth Authenticator) Option {
	return optionFunc(func(o *options) error {
		if auth == nil {
			return fmt.Errorf("%w: nil PLAIN authenticator", ErrBadOption)
		}
		o.plainAuth = auth
		return nil
	})
}

// WithRedialAfterAuthFailure makes a PLAIN client's Connect keep
// redialling, with back-off, after the peer refused our credentials. By
// default a refused Connect stops (EventClosed with ErrAuth; the endpoint
// may then be connected again) and its queued messages are discarded: the
// same credentials would be refused again, and a client that retries them
// is indistinguishable from one that guesses. Use it where the server's
// accounts may change while clients wait.
func WithRedialAfterAuthFailure() Option {
	return optionFunc(func(o *options) error { o.redialAuth = true; return nil })
}

// WithLogger sets where the socket logs connection trouble (debug level) and
// dropped messages (warn). The default logs nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			l = zap.NewNop()
		}
		o.logger = l
		return nil
	})
}
