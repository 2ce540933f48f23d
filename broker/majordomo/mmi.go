package majordomo

import (
	"context"
	"fmt"
)

// The Majordomo Management Interface (spec 8/MMI; guide ch. 4 "Service
// Discovery"): services whose names start with "mmi." are the broker's own.
const (
	// MMIService asks whether a service has a worker: the request body is
	// the service name, the reply MMIFound or MMINotFound.
	MMIService = "mmi.service"
	// MMIFound, MMINotFound and MMINotImplemented are the reply codes.
	MMIFound          = "200"
	MMINotFound       = "404"
	MMINotImplemented = "501"
)

// mmi answers a request for one of the broker's own services: the reply
// to client, with the service name and a one-frame code as body.
func (l *brokerState) mmi(client []byte, service string, body [][]byte) [][]byte {
	code := MMINotImplemented
	if service == MMIService {
		code = MMINotFound
		if len(body) > 0 {
			if s := l.services[string(body[0])]; s != nil && s.workers > 0 {
				code = MMIFound
			}
		}
	}
	return [][]byte{client, frameEmpty, frameMDPC, []byte(service), []byte(code)}
}

// ServiceExists asks the broker's mmi.service whether at least one worker
// is registered for service (the guide's mmiecho). It fails as Request
// does, and with ErrMalformed when the broker does not answer with 200
// or 404 (a broker without MMI may not answer at all: ErrNoReply).
func (c *Client) ServiceExists(ctx context.Context, service string) (bool, error) {
	r, err := c.Request(ctx, MMIService, []byte(service))
	if err != nil {
		return false, err
	}
	return mmiFound(r)
}

// mmiFound reads the body of mmi.service's reply.
func mmiFound(r [][]byte) (bool, error) {
	if len(r) != 1 {
		return false, fmt.Errorf("%w: mmi.service replied %d frames", ErrMalformed, len(r))
	}
	switch string(r[0]) {
	case MMIFound:
		return true, nil
	case MMINotFound:
		return false, nil
	}
	return false, fmt.Errorf("%w: mmi.service replied %s", ErrMalformed, quoteFrame(r[0]))
}
