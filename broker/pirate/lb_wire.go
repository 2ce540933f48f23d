package pirate

import (
	"fmt"

	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/socket"
)

// What a LoadBalancer and its workers say to each other.
//
// A worker is not shown the client's address stack. The load balancer
// gives each request a ticket, one frame, keeps the stack, and sends the
// worker the ticket as the request's whole address:
//
//	to a PPP worker (DEALER):            ticket, "", body...
//	to an lbbroker worker (REQ socket):  "", ticket, "", body...
//
// A REQ socket takes the first delimiter off, so both kinds of worker see
// [address, "", body...]: the three frames (for a one-frame body) that the
// guide's ppworker and lbbroker workers insist on. They copy the address
// into the reply, the REQ socket puts its delimiter back in front, and the
// load balancer finds the request by its ticket and puts the client's
// stack back. The ticket is a random number of the load balancer's and a
// sequence number, so that a reply a worker kept across a reconnect, or
// a restart of the load balancer, cannot be taken for another request's.
//
// A REQ worker announces itself with one frame, "READY" as in lbbroker
// (or PPP's 0x01, as in the guide's Simple Pirate worker), and then only
// replies: a REQ socket can neither take nor send a HEARTBEAT.
const ticketLen = 16

// lbbrokerReady is what the guide's lbbroker workers send first.
const lbbrokerReady = "READY"

// workerMsg is a message from a worker, its routing id put aside.
type workerMsg struct {
	req    bool   // from a REQ socket: it came with an empty delimiter in front
	cmd    string // ppp.Ready or ppp.Heartbeat; "" for a reply
	ticket []byte // a reply's address: the ticket of its request
	body   [][]byte
}

// parseWorkerMsg reads a message from a worker: from a PPP worker READY,
// HEARTBEAT or [ticket, "", reply...]; from a REQ worker the same behind
// an empty delimiter, READY being "READY" or 0x01 and HEARTBEAT not
// allowed. A reply's body may be empty.
func parseWorkerMsg(m [][]byte) (workerMsg, error) {
	var p workerMsg
	if len(m) > 0 && len(m[0]) == 0 {
		p.req, m = true, m[1:]
		if len(m) == 1 {
			if s := string(m[0]); s == lbbrokerReady || s == ppp.Ready {
				p.cmd = ppp.Ready
				return p, nil
			}
			return p, fmt.Errorf("%w: a REQ worker's command %s is not READY", ErrMalformed, ppp.QuoteFrame(m[0]))
		}
	} else if len(m) == 1 {
		cmd, err := ppp.Command(m)
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		p.cmd = cmd
		return p, nil
	}
	if len(m) < 2 || len(m[0]) != ticketLen || len(m[1]) != 0 {
		return p, fmt.Errorf("%w: reply of %d frames whose address is not one ticket and a delimiter", ErrMalformed, len(m))
	}
	p.ticket, p.body = m[0], m[2:]
	return p, nil
}

// toWorker is a request as the backend ROUTER sends it to worker id.
func toWorker(id []byte, req bool, ticket string, body [][]byte) socket.Msg {
	out := make(socket.Msg, 0, len(body)+4)
	out = append(out, id)
	if req {
		out = append(out, nil)
	}
	out = append(out, []byte(ticket), nil)
	return append(out, body...)
}
