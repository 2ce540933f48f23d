package socket

import (
	"fmt"
	"strings"
)

// Type is a ZeroMQ socket type (RFC 28-31, libzmq's ZMQ_PAIR ... ZMQ_XSUB).
type Type int

// The socket types. Which may talk to which is fixed by ZMTP (RFC 23):
// see [Type.Compatible].
const (
	Pair Type = iota + 1
	Pub
	Sub
	Req
	Rep
	Dealer
	Router
	Pull
	Push
	XPub
	XSub
)

var typeNames = [...]string{
	Pair: "PAIR", Pub: "PUB", Sub: "SUB", Req: "REQ", Rep: "REP", Dealer: "DEALER",
	Router: "ROUTER", Pull: "PULL", Push: "PUSH", XPub: "XPUB", XSub: "XSUB",
}

// String returns the ZMTP name of the type ("PUSH", "ROUTER", ...).
func (t Type) String() string {
	if t < Pair || t > XSub {
		return fmt.Sprintf("Type(%d)", int(t))
	}
	return typeNames[t]
}

// ParseType reads a type name, in any case: "push", "PUSH", "XPub".
func ParseType(name string) (Type, error) {
	for t := Pair; t <= XSub; t++ {
		if strings.EqualFold(name, typeNames[t]) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrBadType, name)
}

// Compatible reports whether a socket of type t may be connected to one of
// type peer, as RFC 23 lists the valid pairs.
func (t Type) Compatible(peer Type) bool {
	switch t {
	case Pair:
		return peer == Pair
	case Pub, XPub:
		return peer == Sub || peer == XSub
	case Sub, XSub:
		return peer == Pub || peer == XPub
	case Req:
		return peer == Rep || peer == Router
	case Rep:
		return peer == Req || peer == Dealer
	case Dealer:
		return peer == Rep || peer == Dealer || peer == Router
	case Router:
		return peer == Req || peer == Dealer || peer == Router
	case Pull:
		return peer == Push
	case Push:
		return peer == Pull
	}
	return false
}

func (t Type) valid() bool { return t >= Pair && t <= XSub }

// canSend and canRecv say which of Send and Recv the type offers.
func (t Type) canSend() bool { return t != Pull && t != Sub }
func (t Type) canRecv() bool { return t != Push && t != Pub }
