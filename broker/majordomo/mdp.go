package majordomo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The Majordomo Protocol (spec 7/MDP 0.1, https://rfc.zeromq.org/spec/7/)
// puts a protocol header in every message, so that a broker can serve
// clients and workers on one ROUTER socket and tell them apart:
//
//	client -> broker  REQUEST     "", MDPC01, service, body...
//	broker -> client  REPLY       "", MDPC01, service, body...
//	worker -> broker  READY       "", MDPW01, 0x01, service
//	broker -> worker  REQUEST     "", MDPW01, 0x02, client, "", body...
//	worker -> broker  REPLY       "", MDPW01, 0x03, client, "", body...
//	either way        HEARTBEAT   "", MDPW01, 0x04
//	either way        DISCONNECT  "", MDPW01, 0x05
//
// (The ROUTER's routing id frame, in front on the broker's side, is not
// shown.) A REQ client does not see the leading empty frame; a DEALER
// client sends and receives it.
const (
	// ClientHeader is frame 1 of every MDP/Client message (MDP/Client v0.1).
	ClientHeader = "MDPC01"
	// WorkerHeader is frame 1 of every MDP/Worker message (MDP/Worker v0.1).
	WorkerHeader = "MDPW01"
)

// MDP/Worker commands, frame 2 of a worker message.
const (
	mdpReady      = "\x01"
	mdpRequest    = "\x02"
	mdpReply      = "\x03"
	mdpHeartbeat  = "\x04"
	mdpDisconnect = "\x05"
)

// mmiPrefix is the namespace of the broker's own services (spec 8/MMI).
const mmiPrefix = "mmi."

// Errors returned by the package. Each is wrapped with detail and matched
// with errors.Is.
var (
	// ErrMalformed is a message that does not follow MDP (spec 7): a wrong
	// header, a command of the wrong length, an unknown command, a client
	// REQUEST without a body. The broker counts and drops such messages,
	// and sends DISCONNECT to a worker that sends one; the error appears in
	// logs. Client.Request refuses to send a request without a body with
	// it.
	ErrMalformed = errors.New("majordomo: malformed MDP message")
	// ErrServiceName is a service name a worker may not register or a
	// client may not call: empty, or (for a worker) in the broker's own
	// "mmi." namespace (spec 8/MMI).
	ErrServiceName = errors.New("majordomo: invalid service name")
	// ErrServiceFull is a request a Broker dropped because its service's
	// queue was at its bound (WithServiceQueue); it appears in logs, and
	// Stats.Overflow counts such requests.
	ErrServiceFull = errors.New("majordomo: service queue full")
	// ErrTooManyServices is a request a Broker dropped because it names a
	// service the broker does not know while it holds WithMaxServices
	// services already; Stats.NoRoom counts such requests.
	ErrTooManyServices = errors.New("majordomo: too many services")
	// ErrQueueFull is a request a Broker dropped because its queues held
	// WithQueueBytes bytes of requests, all services together;
	// Stats.OverBudget counts such requests.
	ErrQueueFull = errors.New("majordomo: queues full")
	// ErrNoReply is a Client request that got no reply: every attempt (the
	// first and WithRetries resends) waited WithTimeout in vain.
	ErrNoReply = errors.New("majordomo: no reply, retries exhausted")
	// ErrClosed is a call on a broker, worker or client after Close, or a
	// broker that failed for good (see Broker.Err).
	ErrClosed = errors.New("majordomo: closed")
	// ErrBadOption is an option value out of range, an option given to a
	// constructor it does not apply to, or a nil Handler.
	ErrBadOption = errors.New("majordomo: invalid option")
	// ErrHandler is a Worker handler that returned an error or panicked.
	// The worker gives the request back (see Worker).
	ErrHandler = errors.New("majordomo: handler failed")
)

var (
	frameEmpty         = []byte{}
	frameMDPC          = []byte(ClientHeader)
	frameMDPW          = []byte(WorkerHeader)
	frameMDPReady      = []byte(mdpReady)
	frameMDPRequest    = []byte(mdpRequest)
	frameMDPReply      = []byte(mdpReply)
	frameMDPHeartbeat  = []byte(mdpHeartbeat)
	frameMDPDisconnect = []byte(mdpDisconnect)
)

// mdpWorkerMsg builds a worker message: empty frame, header, command, rest.
func mdpWorkerMsg(cmd []byte, rest ...[]byte) [][]byte {
	m := make([][]byte, 0, 3+len(rest))
	return append(append(m, frameEmpty, frameMDPW, cmd), rest...)
}

// The parsers below read what peers send, as far as the frames go; what a
// message means for the broker, client or worker is their business.

// mdpCut checks a message's protocol header, an empty frame then header,
// and returns the frames after it.
func mdpCut(m [][]byte, header string) ([][]byte, bool) {
	if len(m) < 2 || len(m[0]) != 0 || string(m[1]) != header {
		return nil, false
	}
	return m[2:], true
}

// mdpAddressed reads the frames of a worker's REQUEST or REPLY after the
// command: the client's address, an empty frame, the body.
func mdpAddressed(f [][]byte) (client []byte, body [][]byte, ok bool) {
	if len(f) < 2 || len(f[1]) != 0 {
		return nil, nil, false
	}
	return f[0], f[2:], true
}

// parseMDPRequest reads a client's REQUEST after the header: the service,
// then the body, one frame at least (spec 7; an empty frame is a body, no
// frame is not, as in the guide's mdbroker).
func parseMDPRequest(m [][]byte) (service string, body [][]byte, err error) {
	switch {
	case len(m) < 1 || len(m[0]) == 0:
		return "", nil, fmt.Errorf("%w: client request without a service", ErrMalformed)
	case len(m) < 2:
		return "", nil, fmt.Errorf("%w: client request without a body", ErrMalformed)
	}
	return string(m[0]), m[1:], nil
}

// parseMDPWorker reads a worker's command after the header (the broker's
// side): the command, then its frames, READY's one service frame, REPLY's
// client address, empty frame and body.
func parseMDPWorker(m [][]byte) (cmd string, rest [][]byte, err error) {
	if len(m) < 1 || len(m[0]) != 1 {
		return "", nil, fmt.Errorf("%w: no command", ErrMalformed)
	}
	cmd, rest = string(m[0]), m[1:]
	switch cmd {
	case mdpReady:
		if len(rest) != 1 {
			return "", nil, fmt.Errorf("%w: READY without one service frame", ErrMalformed)
		}
	case mdpReply:
		if _, _, ok := mdpAddressed(rest); !ok {
			return "", nil, fmt.Errorf("%w: REPLY without client address and empty frame", ErrMalformed)
		}
	case mdpHeartbeat, mdpDisconnect:
	default:
		return "", nil, fmt.Errorf("%w: unknown command %s", ErrMalformed, mdpCommandName(cmd))
	}
	return cmd, rest, nil
}

// parseMDPReply reads a reply as a client receives it: the header, the
// service it asked, then the body.
func parseMDPReply(m [][]byte, service string) ([][]byte, error) {
	rest, ok := mdpCut(m, ClientHeader)
	if !ok || len(rest) < 1 || string(rest[0]) != service {
		return nil, fmt.Errorf("%w: not a REPLY from service %q", ErrMalformed, service)
	}
	return rest[1:], nil
}

// mdpCommandName names a worker command for logs.
func mdpCommandName(cmd string) string {
	switch cmd {
	case mdpReady:
		return "READY"
	case mdpRequest:
		return "REQUEST"
	case mdpReply:
		return "REPLY"
	case mdpHeartbeat:
		return "HEARTBEAT"
	case mdpDisconnect:
		return "DISCONNECT"
	}
	return fmt.Sprintf("%q", cmd)
}

// isMMI reports whether a service is the broker's own (spec 8/MMI).
func isMMI(service string) bool { return strings.HasPrefix(service, mmiPrefix) }

// maxQuoted bounds what an error quotes of a peer's frame: enough to see
// what it was, while a frame of any size (256 MiB by default) makes a
// short error and log line, not one four times its size.
const maxQuoted = 32

// quoteFrame quotes a frame for an error, cut at maxQuoted bytes.
func quoteFrame(f []byte) string {
	if len(f) <= maxQuoted {
		return strconv.Quote(string(f))
	}
	return fmt.Sprintf("%q... (%d bytes)", f[:maxQuoted], len(f))
}
