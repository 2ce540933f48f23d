package gridsearch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// loopState is the master loop's own bookkeeping; only the loop's goroutine
// touches it.
type loopState struct {
	p        Progress
	inflight int // points handed out and not finished: running or queued
	busy     time.Duration
	attempts map[int]int                     // of the points not finished
	reruns   map[int]int                     // runs the broker began again after a worker died, of the points not finished
	cancels  map[int]context.CancelCauseFunc // of the requests in flight
	retry    []int                           // failed points to run again
	next     int                             // the next point never handed out
	stopping bool
	stopErr  error
}

// giveUp ends the request of every point in flight: they are not
// reported, and a resumed run does them.
func (s *loopState) giveUp() {
	for _, cancel := range s.cancels {
		cancel(nil)
	}
}

// stop ends dispatch; the first reason is the one the run returns.
func (s *loopState) stop(err error) {
	if !s.stopping {
		s.stopping, s.stopErr = true, err
	}
}

// loop is the master: it hands points out as slots free up (dispatch),
// takes their results in (collect), ends the requests of points the broker
// gave up on, and reports progress, until every point is done or the run
// stops.
func (r *run) loop(ctx context.Context) (Summary, error) {
	// Requests live until the run ends; ctx's end stops only dispatch.
	reqCtx, cancelReqs := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancelReqs()
	wg.Add(1)
	go r.watchSlots(reqCtx, &wg)

	s := &loopState{p: Progress{Total: r.n}, attempts: map[int]int{}, reruns: map[int]int{}, cancels: map[int]context.CancelCauseFunc{}}
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	done := ctx.Done()
	for {
		r.dispatch(reqCtx, &wg, s)
		if s.inflight == 0 && (s.stopping || (len(s.retry) == 0 && s.next >= r.n)) {
			break
		}
		select {
		case rep := <-r.results:
			r.collect(s, rep)
		case <-r.wake:
			r.endAbandoned(s)
		case <-tick.C:
			r.progress(s)
		case <-done:
			done = nil
			s.stop(ErrInterrupted)
			// Running points are given up: a resumed run does them.
			cancelReqs()
		}
	}
	cancelReqs()
	r.progress(s)
	return r.summary(s), s.stopErr
}

// watchSlots follows the number of worker slots the broker sees: it is how
// many points the loop lets out.
func (r *run) watchSlots(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	cur := -1
	for {
		var seen int
		if r.lb.Wait(ctx, func(s pirate.Stats) bool { seen = s.Workers; return seen != cur }) != nil {
			return
		}
		cur = seen
		r.mu.Lock()
		r.slots, r.peak = seen, max(r.peak, seen)
		r.mu.Unlock()
		r.poke()
	}
}

// poke wakes the loop; a wake already pending is enough.
func (r *run) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// dispatch hands points out while fewer are in flight than the slots plus a
// few: a slot that finishes then finds its next point queued at the broker.
func (r *run) dispatch(ctx context.Context, wg *sync.WaitGroup, s *loopState) {
	r.mu.Lock()
	limit := r.slots + max(4, r.slots/4)
	if r.slots == 0 || r.cfg.haltSet() {
		// With a halt, no point waits at the broker for a slot: one
		// there when the run halts would still be handed out and run.
		limit = r.slots
	}
	r.mu.Unlock()
	for !s.stopping && s.inflight < limit {
		pt, ok := r.nextPoint(s)
		if !ok {
			return
		}
		s.attempts[pt]++
		s.inflight++
		pctx, cancel := context.WithCancelCause(ctx)
		s.cancels[pt] = cancel
		wg.Add(1)
		go r.request(pctx, wg, pt, s.attempts[pt])
	}
}

// nextPoint is the next point to run: a retry first, then one never handed
// out that Skip does not name.
func (r *run) nextPoint(s *loopState) (int, bool) {
	for {
		switch {
		case len(s.retry) > 0:
			pt := s.retry[0]
			s.retry = s.retry[1:]
			return pt, true
		case s.next < r.n:
			pt := s.next
			s.next++
			if r.cfg.Skip != nil && r.cfg.Skip(pt) {
				s.p.Skipped++
				continue
			}
			return pt, true
		default:
			return 0, false
		}
	}
}

// collect takes one request's outcome: a retry, or a record for OnResult.
func (r *run) collect(s *loopState, rep reply) {
	s.inflight--
	s.cancels[rep.point](nil)
	delete(s.cancels, rep.point)
	if rep.err != nil {
		// Only the end of the requests' ctx or a closed client gets here.
		s.stop(fmt.Errorf("gridsearch: point %d: %w", rep.point, rep.err))
		return
	}
	s.busy += time.Duration(rep.out.Duration)
	r.countReruns(s)
	rec := r.record(rep)
	// -retries counts the master's attempts, failures of the point; a
	// worker's death is not the point's failure, but its run was begun.
	rec.Attempts += s.reruns[rep.point]
	if !rec.OK() && rep.attempts <= r.cfg.Retries && !s.stopping && !rep.abandoned {
		s.retry = append(s.retry, rep.point)
		return
	}
	delete(s.attempts, rep.point)
	delete(s.reruns, rep.point)
	if rec.OK() {
		s.p.Done++
	} else {
		s.p.Failed++
	}
	if r.cfg.OnResult != nil {
		if err := r.cfg.OnResult(rec); err != nil {
			s.stop(err)
		}
	}
	if r.halts(s.p) {
		s.stop(ErrHalted)
		if r.cfg.HaltNow {
			s.giveUp()
		}
	}
}

// countReruns takes the broker's notes of points it took from a worker
// and handed out again, for the points still in flight.
func (r *run) countReruns(s *loopState) {
	r.mu.Lock()
	notes := r.requeued
	r.requeued = nil
	r.mu.Unlock()
	for _, n := range notes {
		if s.attempts[n[0]] == n[1] {
			s.reruns[n[0]]++
		}
	}
}

// DefaultHaltMinPoints is how many points must have finished before
// Config.HaltPercent can stop a run, when Config.HaltMinPoints is 0: the
// first failure alone is not a percentage.
const DefaultHaltMinPoints = 10

// halts reports whether the failures so far halt the run.
func (r *run) halts(p Progress) bool {
	if r.cfg.Halt > 0 && p.Failed >= r.cfg.Halt {
		return true
	}
	if r.cfg.HaltPercent <= 0 {
		return false
	}
	minPts := r.cfg.HaltMinPoints
	if minPts == 0 {
		minPts = DefaultHaltMinPoints
	}
	fin := p.Done + p.Failed
	return fin >= minPts && float64(p.Failed)*100 >= r.cfg.HaltPercent*float64(fin)
}

// haltSet reports whether any halt is configured: dispatch then queues no
// point for a slot, so that none is left to start after a halt.
func (c *Config) haltSet() bool { return c.Halt > 0 || c.HaltPercent > 0 }

// endAbandoned ends the requests of the points the broker gave up on, if
// they are still the attempts it gave up.
func (r *run) endAbandoned(s *loopState) {
	r.mu.Lock()
	gone := r.abandoned
	r.abandoned = nil
	r.mu.Unlock()
	for _, a := range gone {
		if cancel := s.cancels[a[0]]; cancel != nil && s.attempts[a[0]] == a[1] {
			cancel(errAbandoned)
		}
	}
}

// counts fills in the progress that the loop does not count itself: the
// points a slot has taken (as the broker counts them) apart from those that
// wait for one, and the slots.
func (r *run) counts(s *loopState) {
	s.p.Running = min(s.inflight, r.lb.Stats().InFlight)
	s.p.Queued = s.inflight - s.p.Running
	r.mu.Lock()
	s.p.Slots = r.slots
	r.mu.Unlock()
	s.p.Elapsed = time.Since(r.start)
}

func (r *run) progress(s *loopState) {
	if r.cfg.OnProgress != nil {
		r.counts(s)
		r.cfg.OnProgress(s.p)
	}
}

func (r *run) summary(s *loopState) Summary {
	r.counts(s)
	sum := Summary{Progress: s.p, Busy: s.busy}
	r.mu.Lock()
	sum.PeakSlots = r.peak
	r.mu.Unlock()
	if sum.Elapsed > 0 && sum.PeakSlots > 0 {
		sum.Efficiency = s.busy.Seconds() / (sum.Elapsed.Seconds() * float64(sum.PeakSlots))
	}
	sum.Interrupted = errors.Is(s.stopErr, ErrInterrupted)
	sum.Halted = errors.Is(s.stopErr, ErrHalted)
	return sum
}
