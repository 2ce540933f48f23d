package broker

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The Paranoid Pirate Protocol (spec 6/PPP, https://rfc.zeromq.org/spec/6/)
// has four messages on the worker's side of a load balancer:
//
//	READY      one frame, 0x01: the worker starts a conversation
//	HEARTBEAT  one frame, 0x02: both ways, every heartbeat interval
//	REQUEST    address stack, empty delimiter, one or more body frames
//	REPLY      the same address stack, empty delimiter, the reply frames
//
// A worker copies the address stack of a request into its reply untouched;
// that is all it knows of clients. zmqflow's Client puts a request id in the
// address stack (client routing id, request id, empty delimiter). Our
// LoadBalancer keeps the stack and shows its workers one frame in its place
// (lb_wire.go), so that any worker serves it, the guide's ppworker (which
// takes exactly address, delimiter and body) included; the guide's ppqueue
// passes the stack on as it is, to workers that copy any stack, as our
// Worker does.
const (
	pppReady     = "\x01"
	pppHeartbeat = "\x02"
)

var (
	frameReady     = []byte(pppReady)
	frameHeartbeat = []byte(pppHeartbeat)
)

// splitEnvelope splits a PPP request or reply into its address stack (up
// to and including the first empty frame) and its body. ok is false when
// there is no empty frame, or it is the first frame (an empty stack).
func splitEnvelope(m [][]byte) (env, body [][]byte, ok bool) {
	for i, f := range m {
		if len(f) == 0 {
			if i == 0 {
				return nil, nil, false
			}
			return m[:i+1], m[i+1:], true
		}
	}
	return nil, nil, false
}

// envelopeKey is a map key naming one request: its address stack, each
// frame length-prefixed so that no two stacks share a key.
func envelopeKey(env [][]byte) string {
	var b strings.Builder
	var n [binary.MaxVarintLen64]byte
	for _, f := range env {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		b.Write(f)
	}
	return b.String()
}

// pppMsg is a PPP message from a peer: a command, or a request or reply
// with its address stack and body.
type pppMsg struct {
	cmd       string // pppReady or pppHeartbeat; "" for a request or reply
	env, body [][]byte
}

// parsePPP reads a message from a PPP peer (a worker's, its routing id put
// aside, or a broker's): one frame is a command, more a request or reply.
func parsePPP(m [][]byte) (pppMsg, error) {
	if len(m) == 1 {
		cmd, err := command(m)
		return pppMsg{cmd: cmd}, err
	}
	env, body, ok := splitEnvelope(m)
	if !ok {
		return pppMsg{}, fmt.Errorf("%w: %d frames without an address stack", ErrMalformed, len(m))
	}
	return pppMsg{env: env, body: body}, nil
}

// command classifies a one-frame message as READY or HEARTBEAT.
func command(m [][]byte) (string, error) {
	if len(m) != 1 {
		return "", fmt.Errorf("%w: %d frames where a command has one", ErrMalformed, len(m))
	}
	switch string(m[0]) {
	case pppReady, pppHeartbeat:
		return string(m[0]), nil
	}
	return "", fmt.Errorf("%w: command %s is neither READY nor HEARTBEAT", ErrMalformed, quoteFrame(m[0]))
}

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
