package pirate

import "errors"

// Errors returned by the package. Each is wrapped with detail (the endpoint,
// the attempt count, the socket's error) and is matched with errors.Is.
var (
	// ErrNoReply is a Client request that got no reply: every attempt (the
	// first and WithRetries resends) waited WithTimeout in vain.
	ErrNoReply = errors.New("pirate: no reply, retries exhausted")
	// ErrClosed is a call on a load balancer, worker, client or stage after
	// Close, or after it failed for good (its Err says why).
	ErrClosed = errors.New("pirate: closed")
	// ErrBadOption is an option value out of range, an option given to a
	// constructor it does not apply to, or a nil Handler.
	ErrBadOption = errors.New("pirate: invalid option")
	// ErrMalformed is a message that does not follow PPP (spec 6): a request
	// without an address stack and its empty delimiter, a one-frame command
	// that is neither READY nor HEARTBEAT. Load balancers, workers and
	// clients count and drop such messages; the error appears in logs.
	ErrMalformed = errors.New("pirate: malformed PPP message")
	// ErrHandler is a Worker handler that returned an error or panicked. The
	// worker gives the request back (it sends READY without a reply), so the
	// load balancer hands it to another worker.
	ErrHandler = errors.New("pirate: handler failed")
)
