// Package ppp is the wire of the Paranoid Pirate Protocol (spec 6/PPP,
// https://rfc.zeromq.org/spec/6/) that the broker packages share: its
// commands, and the address stacks ("envelopes") of requests and replies.
// It reads frames only: sockets, state and errors of their own are the
// packages' (broker/pirate, broker/peering).
//
// PPP has four messages on the worker's side of a load balancer:
//
//	READY      one frame, 0x01: the worker starts a conversation
//	HEARTBEAT  one frame, 0x02: both ways, every heartbeat interval
//	REQUEST    address stack, empty delimiter, one or more body frames
//	REPLY      the same address stack, empty delimiter, the reply frames
//
// A worker copies the address stack of a request into its reply untouched;
// that is all it knows of clients.
//
// Everything here reads frames a peer sent, hostile input: it slices them
// and allocates only for its answer, and an error quotes a bounded part of
// a frame. Errors say what is wrong with a message; the caller wraps them
// in its package's ErrMalformed.
package ppp

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The commands, as a frame's bytes.
const (
	Ready     = "\x01"
	Heartbeat = "\x02"
)

// The commands as frames, to send. They are shared: never modify them.
var (
	FrameReady     = []byte(Ready)
	FrameHeartbeat = []byte(Heartbeat)
)

// SplitEnvelope splits a PPP request or reply into its address stack (up
// to and including the first empty frame) and its body. ok is false when
// there is no empty frame, or it is the first frame (an empty stack).
func SplitEnvelope(m [][]byte) (env, body [][]byte, ok bool) {
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

// EnvelopeKey is a map key naming one request: its address stack, each
// frame length-prefixed so that no two stacks share a key.
func EnvelopeKey(env [][]byte) string {
	var b strings.Builder
	var n [binary.MaxVarintLen64]byte
	for _, f := range env {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		b.Write(f)
	}
	return b.String()
}

// Msg is a PPP message from a peer: a command, or a request or reply with
// its address stack and body.
type Msg struct {
	Cmd       string // Ready or Heartbeat; "" for a request or reply
	Env, Body [][]byte
}

// Parse reads a message from a PPP peer (a worker's, its routing id put
// aside, or a broker's): one frame is a command, more a request or reply.
func Parse(m [][]byte) (Msg, error) {
	if len(m) == 1 {
		cmd, err := Command(m)
		return Msg{Cmd: cmd}, err
	}
	env, body, ok := SplitEnvelope(m)
	if !ok {
		return Msg{}, fmt.Errorf("%d frames without an address stack", len(m))
	}
	return Msg{Env: env, Body: body}, nil
}

// Command classifies a one-frame message as Ready or Heartbeat.
func Command(m [][]byte) (string, error) {
	if len(m) != 1 {
		return "", fmt.Errorf("%d frames where a command has one", len(m))
	}
	switch string(m[0]) {
	case Ready, Heartbeat:
		return string(m[0]), nil
	}
	return "", fmt.Errorf("command %s is neither READY nor HEARTBEAT", QuoteFrame(m[0]))
}

// MaxQuoted bounds what an error quotes of a peer's frame: enough to see
// what it was, while a frame of any size (256 MiB by default) makes a
// short error and log line, not one four times its size.
const MaxQuoted = 32

// QuoteFrame quotes a frame for an error, cut at MaxQuoted bytes.
func QuoteFrame(f []byte) string {
	if len(f) <= MaxQuoted {
		return strconv.Quote(string(f))
	}
	return fmt.Sprintf("%q... (%d bytes)", f[:MaxQuoted], len(f))
}
