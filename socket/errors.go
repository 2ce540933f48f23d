package socket

import "errors"

// Errors returned by the package. Each is wrapped with detail (the endpoint,
// the type, the option) and is matched with errors.Is.
var (
	// ErrClosed is returned by every call on a socket after Close.
	ErrClosed = errors.New("socket: closed")
	// ErrBadType is an unknown socket type.
	ErrBadType = errors.New("socket: unknown socket type")
	// ErrBadEndpoint is an endpoint that does not parse ("tcp://host:port",
	// "ipc:///path", "inproc://name").
	ErrBadEndpoint = errors.New("socket: invalid endpoint")
	// ErrBadOption is an option value the socket type does not accept.
	ErrBadOption = errors.New("socket: invalid option")
	// ErrNotSupported is an operation the socket type does not have:
	// Send on PULL or SUB, Recv on PUSH or PUB, Subscribe on anything but SUB
	// (and an XPUB with WithXPubManual), a message of several frames on a
	// socket with WithConflate.
	ErrNotSupported = errors.New("socket: operation not supported by this socket type")
	// ErrState is a REQ or REP call out of turn: REQ must alternate Send and
	// Recv, REP must alternate Recv and Send (libzmq's EFSM).
	ErrState = errors.New("socket: operation not valid in the socket's current state")
	// ErrHostUnreachable is a ROUTER send to an identity that is not
	// connected, with WithRouterMandatory set (libzmq's EHOSTUNREACH).
	ErrHostUnreachable = errors.New("socket: no peer with that routing identity")
	// ErrAddrInUse is a bind to an endpoint something already listens on.
	ErrAddrInUse = errors.New("socket: address already in use")
	// ErrNotBound is an Unbind or Disconnect of an endpoint the socket has not
	// bound or connected.
	ErrNotBound = errors.New("socket: endpoint not bound or connected")
	// ErrEmptyMsg is a Send of a message with no frames.
	ErrEmptyMsg = errors.New("socket: message has no frames")
	// ErrTooLarge is a message over the socket's maximum message size; a peer
	// that sends one is disconnected with this error in the monitor event.
	ErrTooLarge = errors.New("socket: message larger than the maximum message size")
	// ErrHandshake is a peer that failed the ZMTP handshake: no greeting,
	// garbage, an incompatible socket type or bad credentials.
	ErrHandshake = errors.New("socket: handshake failed")
	// ErrDiscarded is Shutdown's report that its ctx ended before every
	// queued message went out: those left were discarded.
	ErrDiscarded = errors.New("socket: queued messages discarded")
	// ErrUnconfirmed is ShutdownConfirmed's report that a peer did not
	// confirm, before its ctx ended, that it had read everything sent to
	// it: what was still on the wire to it may be lost.
	ErrUnconfirmed = errors.New("socket: peer did not confirm it read everything")
	// ErrHeartbeat is a peer dropped because nothing came from it within the
	// heartbeat timeout after a PING, or within the TTL it asked for (see
	// WithHeartbeat); it is the Err of the EventDisconnected.
	ErrHeartbeat = errors.New("socket: peer silent past the heartbeat timeout")
	// ErrHandshakeLimit is a connection a bound endpoint closed during its
	// handshake to make room for a new one (see WithMaxHandshakes).
	ErrHandshakeLimit = errors.New("socket: too many connections in the handshake")
	// ErrPeerLimit is a connection a bound endpoint refused because it
	// already had as many peers as WithMaxPeers allows.
	ErrPeerLimit = errors.New("socket: too many peers")
	// ErrAuth is a PLAIN or CURVE client the server's authenticator refused.
	ErrAuth = errors.New("socket: authentication failed")
)
