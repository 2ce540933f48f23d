package pirate

import (
	"context"
	"errors"
	"fmt"
)

// Stage is one link of a chain of load balancers: a Worker of an upstream
// LoadBalancer whose handler is also a Client of a downstream one. It is
// how stages are composed across processes and hosts, a map stage feeding
// a reduce stage, each behind its own broker:
//
//	client ──► map LB ──► Stage(f) ──► reduce LB ──► Worker(g)
//	   ◄──────────── reply ◄──────────────── reply ◄──────┘
//
// For each request the Stage runs its own step f on the request's body, sends
// f's result downstream as a request of its own, and returns the downstream
// reply as its reply upstream. The client that sent the first request is the
// chain's sink: its reply is the composed result g(f(request)). This is the
// guide's request-reply pattern end to end (ch. 3: every hop a ROUTER, the
// reply retracing the request's path) rather than a pipeline of PUSH and
// PULL sockets with a separate sink (ch. 1 "Divide and Conquer"), and it
// keeps the Paranoid Pirate guarantees across the whole chain:
//
//   - A Stage process that dies holding a request stops its heartbeats, and
//     the upstream LoadBalancer hands the request to another worker of that
//     stage, which runs f again and forwards it again.
//   - A downstream request that gets no reply (the Lazy Pirate client's
//     timeout and resends, WithTimeout and WithRetries, exhausted) fails the
//     handler, and the Stage gives the request back upstream (ErrHandler):
//     the upstream LoadBalancer hands it to the next idle worker of the
//     stage, up to WithMaxDeliveries times.
//   - Each Client returns one reply per request, so the sink sees every
//     request answered exactly once. A stage further down sees a request at
//     least once: a Stage killed after forwarding, or a resend, delivers it
//     again. Where a downstream worker keeps state (a reducer adding into
//     totals), items should therefore carry an id by which it drops repeats.
//
// Backpressure is the load balancers': a Stage handles one request at a
// time, so it is a downstream client with at most one request outstanding,
// and the upstream LoadBalancer holds the rest until a Stage is idle.
//
// Concurrency: a Stage is safe for concurrent use. It runs the goroutines of
// its Worker and its Client; NewStage starts them and Close returns after
// they have ended.
type Stage struct {
	worker *Worker
	client *Client
}

// StageStats are a Stage's counters: those of its upstream Worker and of its
// downstream Client.
type StageStats struct {
	Worker WorkerStats // requests from upstream: handled, given back
	Client ClientStats // requests sent downstream: replies, resends, failures
}

// NewStage starts a stage: a Worker on upstream, the backend of one
// LoadBalancer, and a Client of downstream, the frontend of the next. f is
// the stage's own step, run on each request's body before it goes
// downstream; nil passes the body on unchanged. f's error (or panic) gives
// the request back upstream without sending anything downstream, as for a
// Worker's Handler. f is called from one goroutine at a time, and its ctx
// ends when the Stage is closed.
//
// Options are those of NewWorker and NewClient, each applied to the part it
// configures: WithHeartbeat, WithReconnect and WithoutTaskSpans to the upstream Worker,
// WithTimeout and WithRetries to the downstream Client, WithSocketOptions,
// WithLogger and WithObserver to both.
func NewStage(upstream string, f Handler, downstream string, opts ...Option) (*Stage, error) {
	// Check the options once, so that a bad one fails before any socket.
	if _, err := build(forStage, "NewStage", opts); err != nil {
		return nil, err
	}
	c, err := NewClient(downstream, only(forClient, opts)...)
	if err != nil {
		return nil, fmt.Errorf("pirate: stage downstream: %w", err)
	}
	s := &Stage{client: c}
	w, err := NewWorker(upstream, s.handler(f), only(forWorker, opts)...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pirate: stage upstream: %w", err)
	}
	s.worker = w
	return s, nil
}

func (s *Stage) handler(f Handler) Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		body := req
		if f != nil {
			var err error
			// The Worker recovers a panic in f, as in any Handler.
			if body, err = f(ctx, req); err != nil {
				return nil, err
			}
		}
		reply, err := s.client.Request(ctx, body...)
		if err != nil {
			return nil, fmt.Errorf("pirate: stage: downstream: %w", err)
		}
		return reply, nil
	}
}

// Stats returns a snapshot of the stage's counters.
func (s *Stage) Stats() StageStats {
	return StageStats{Worker: s.worker.Stats(), Client: s.client.Stats()}
}

// Close stops the stage: the Worker first, which cancels the request in
// hand (its downstream Request returns, no reply goes upstream, and the
// upstream LoadBalancer hands the request to another worker of the stage
// once it finds this one gone), then the Client. It returns after every
// goroutine of the stage has ended. Calls after the first return nil.
func (s *Stage) Close() error {
	return errors.Join(s.worker.Close(), s.client.Close())
}
