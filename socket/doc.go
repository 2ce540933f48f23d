// Package socket is ZeroMQ's sockets in pure Go, with libzmq 4.3's semantics:
// PAIR, PUB, SUB, XPUB, XSUB, REQ, REP, DEALER, ROUTER, PUSH and PULL over
// tcp://, ipc:// and inproc://. A libzmq peer cannot tell it from libzmq.
//
// The guide's first chapter ("Sockets and Patterns", "Divide and Conquer")
// and chapter 2 ("Sockets and Patterns", "Messaging Patterns") are the tour;
// RFCs 28-31 are the reference for each type. In brief:
//
//   - PUSH sends round-robin to the peers that have room; PULL fair-queues.
//   - PUB sends to every subscriber whose subscription prefixes the first
//     frame, dropping for a subscriber at its high-water mark; SUB receives
//     only what it subscribed to. XPUB and XSUB are the same with the
//     subscriptions visible, for proxies.
//   - REQ sends a request and must receive the reply before the next; REP
//     receives a request and must reply before the next. The envelope (the
//     frames up to the empty delimiter) is handled for you.
//   - DEALER is round-robin out and fair-queued in, without envelopes; ROUTER
//     prefixes what it receives with the sender's routing identity and routes
//     what it sends by the first frame.
//   - PAIR talks to exactly one peer.
//
// # Wire and connections
//
// tcp and ipc connections speak ZMTP 3.0 (RFC 23). github.com/go-zeromq/zmq4's
// connection layer runs the greeting, the security handshake and the
// socket-type check (zmq4.Open) and sends commands (*zmq4.Conn), over a
// connection this package owns: buffered reads, buffered writes flushed when
// the connection's queue runs empty, and a frame guard that drops a peer
// announcing a message over the maximum size before it is read (see
// WithMaxMsgSize). After the handshake the guard also reads and writes the
// message frames itself, which saves zmq4's allocations and a second parse
// of every header. ZMTP commands never reach the application; a PING is
// answered with a PONG.
//
// On Linux an ipc connection is watched for input by an epoll instance of its
// own rather than directly by Go's poller: a unix socket reports room to
// write each time its peer reads, and in a conversation those reports would
// wake the process once per message for nothing. Such a connection holds
// three file descriptors.
//
// inproc connections pass messages straight into the peer's receive queue,
// without ZMTP and without a size limit.
//
// # Security
//
// A tcp or ipc connection runs one of ZMTP's security mechanisms, chosen by
// the socket's options; both ends must choose the same. inproc connections
// run none, whatever the options, as in libzmq.
//
//   - NULL (the default): no authentication, no encryption.
//   - PLAIN (RFC 24; WithPlainServer, WithPlainClient): a user name and
//     password, sent in clear, which the server's Authenticator checks.
//   - CURVE (RFC 26, CurveZMQ; WithCurveServer, WithCurveClient):
//     Curve25519 keys, with every frame and command (heartbeats too)
//     encrypted and authenticated after the handshake, each under a nonce
//     that must grow: a frame forged, replayed or reordered ends the
//     connection (EventDisconnected with ErrCurve). The client must know
//     the server's long-term public key; a client with the wrong one gets
//     nothing through. Each connection makes fresh transient keys, so a
//     long-term key stolen later does not open traffic recorded now.
//     On amd64 with AVX2, frames are enciphered eight Salsa20 blocks at a
//     time (socket/internal/salsa20); the purego build tag turns that off
//     for x/crypto's code, with the same bytes on the wire.
//
// A CURVE server admits any client that completes the handshake unless
// WithCurveAuthenticator gives it an Authenticator, which then sees the
// client's long-term public key in AuthRequest.PublicKey (and where the
// client comes from, as for PLAIN). AllowCurveKeys and AllowCurveKeysIn
// (the certificates in a directory, read once) make allow-lists. A refused
// client, PLAIN or CURVE, gets ZMTP's ERROR and stops redialling
// (EventClosed with ErrAuth; see WithRedialAfterAuthFailure); both sides
// report EventHandshakeFailed with ErrAuth. Any other failure of the
// handshake is EventHandshakeFailed with ErrHandshake (and ErrCurve for
// CURVE's own checks).
//
// Keys are CurveKey values, written in Z85 (RFC 32: Z85Encode, Z85Decode,
// ParseCurveKey, CurveKey.String). NewCurveKeyPair makes a pair;
// SaveCurveCert and LoadCurveCert write and read CZMQ's certificate files
// (FILE with the public key, FILE_secret with both), which libzmq's tools
// and pyzmq's zmq.auth share; cmd/zmqcat's keygen writes them too.
//
// Connect returns at once and keeps the connection up: it dials, redials
// with back-off when the peer is not there or goes away, and a Connect before
// the Bind is fine. A peer that hangs, or is cut off, without closing its
// connection is only noticed with heartbeats (WithHeartbeat, ZMTP 3.1's PING
// and PONG, RFC 37). Monitor reports what happens to each connection.
//
// # Polling
//
// The guide's loops over several sockets (zmq_poll, zmq.Poller) are Poll,
// over a list of PollItem, or Readable, a channel for a select among other
// cases; TryRecv and TrySend then receive or send without waiting
// (ErrWouldBlock if they would), and TryRecvBatch takes what is queued, up
// to a number, under one lock for a socket with one peer. Readiness is
// level-triggered and worked out from the queues at each call: a message
// stays queued until a receive takes it, so a select that picks another
// case loses nothing. PollIn is a
// message to receive (SUB: one it subscribed to; REQ: while it awaits its
// reply; REP: while it owes none); PollOut a Send that would not block. A
// closed socket is ready for both, and its TryRecv and TrySend return
// ErrClosed. Polling starts no goroutine, and sockets nobody polls pay
// nothing for it. With one goroutine receiving from each socket, a socket
// Poll found readable has a message for TryRecv; where several receive
// from the same socket, another may be first.
//
// # Options
//
// New takes options, the With functions, most named after the libzmq
// socket option they stand for. An option that does not apply to the
// socket's type fails New with ErrBadOption, naming both. For every type:
// the high-water marks (WithSendHWM, WithRecvHWM), WithLinger, the
// reconnect back-off (WithReconnectInterval, WithReconnectIntervalMax),
// WithHandshakeTimeout, WithMaxHandshakes, WithMaxMsgSize, WithMaxPeers,
// WithRecvBudget (bytes held from all peers together), WithIdentity,
// WithHeartbeat, the PLAIN mechanism (WithPlainClient, WithPlainServer,
// WithRedialAfterAuthFailure), WithLogger, WithImmediate (a Connect queues
// only once connected) and WithTCPKeepAlive. For some types only:
//
//   - XPUB: WithXPubVerbose and WithXPubVerboser (every subscribe, and
//     cancel, reaches the application, duplicates included), WithXPubManual
//     (the application applies each subscription, with Subscribe on the
//     XPUB) and WithXPubWelcome (a message to each new subscriber; the
//     guide's last-value cache is its example).
//   - PUB, XPUB, SUB: WithInvertMatching (subscriptions exclude).
//   - REQ: WithReqRelaxed (send again without the reply) and
//     WithReqCorrelate (requests numbered, replies matched).
//   - ROUTER: WithRouterMandatory (report what would be dropped) and
//     WithRouterHandover (a new peer takes over an identity in use).
//   - ROUTER, DEALER, REQ: WithProbeRouter (an empty message to each new
//     peer, so that a ROUTER knows it at once).
//   - PULL, PUSH, SUB, PUB, DEALER: WithConflate (keep the last message
//     only).
//
// # Lifetime
//
// Close lingers (WithLinger) while queued messages go out, then closes every
// connection and returns once every goroutine the socket started has ended.
// A server that must account for every message it received before it
// lingers for its replies calls StopReceiving first: its receive queues
// take nothing more (what comes later is counted in Stats().Unreceived, or
// refused at an inproc peer's Send), and what they hold stays for Recv.
//
// # Choosing a layer
//
// A socket speaks frames. For typed values, actors whose mailboxes are
// sockets and references that send over them, use package patterns (its
// Inbox.Socket and Outbox.Socket give back the socket underneath); for the
// guide's brokers ready to run, the packages under broker. The root package's doc,
// "Choosing a package", compares the four.
package socket
