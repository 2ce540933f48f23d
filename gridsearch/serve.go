package gridsearch

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// ServeConfig is a worker process for ServeWith. Endpoint and Slots are
// required; the zero value of every other field is a sensible default.
type ServeConfig struct {
	Endpoint string // the master's Bind, e.g. "tcp://master:5555"
	Slots    int    // points run at once, at least 1
	Func     Func   // nil: run the points' commands

	// Idle ends ServeWith, with ErrIdle, once no master has been heard for
	// that long, as ServeIdle's idle. 0 waits for ever.
	Idle time.Duration

	// Quiet is how long without a master before OnQuiet(true) is called;
	// OnQuiet(false) follows when one is heard again. Both are called
	// once a change, from one goroutine. 0 (or OnQuiet nil) never calls.
	Quiet   time.Duration
	OnQuiet func(quiet bool)

	// OnHeard, if not nil, is called once, when a slot has first heard
	// a master: at the next of ServeWith's looks (one a second, or more
	// often with a short Idle or Quiet), or as ServeWith returns, for one
	// heard just before its ctx ended. A worker that never hears one can
	// say so, as ErrNeverHeard does after Idle. It is called from
	// ServeWith's goroutine.
	OnHeard func()

	Options []pirate.Option // for each pirate.Worker
}

// ServeWith runs cfg.Slots workers for the master at cfg.Endpoint until ctx
// ends (nil), or cfg.Idle passes without a master (ErrIdle, and
// ErrNeverHeard as well if no master was heard at all). Serve and
// ServeIdle are ServeWith with fewer settings.
func ServeWith(ctx context.Context, cfg ServeConfig) error {
	idle, opts := cfg.Idle, cfg.Options
	if cfg.Slots < 1 {
		return fmt.Errorf("gridsearch: slots %d, want at least 1", cfg.Slots)
	}
	if idle < 0 || cfg.Quiet < 0 {
		return fmt.Errorf("gridsearch: idle %v, quiet %v: want 0 or more", idle, cfg.Quiet)
	}
	if idle > 0 {
		backoff := max(idle/4, time.Millisecond)
		opts = append([]pirate.Option{pirate.WithReconnect(
			min(pirate.DefaultReconnectInit, backoff), min(pirate.DefaultReconnectMax, backoff))}, opts...)
	}
	host := Hostname()
	var ws []*pirate.Worker
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	for i := range cfg.Slots {
		name := fmt.Sprintf("%s:%d/%d", host, os.Getpid(), i)
		w, err := pirate.NewWorker(cfg.Endpoint, handler(name, host, i, cfg.Func), ownSpans(opts)...)
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	quiet := cfg.Quiet
	if cfg.OnQuiet == nil {
		quiet = 0
	}
	heardAny := false
	// heard looks at when each slot last heard a master: the latest
	// time, if after last (heard), and, the first time one has, tells
	// OnHeard.
	heard := func(last time.Time) (time.Time, bool) {
		was := last
		for _, w := range ws {
			h := w.Stats().LastHeard
			if h.After(last) {
				last = h
			}
			if !heardAny && !h.IsZero() {
				heardAny = true
				if cfg.OnHeard != nil {
					cfg.OnHeard()
				}
			}
		}
		return last, last != was
	}
	if idle == 0 && quiet == 0 && cfg.OnHeard == nil {
		<-ctx.Done()
		return nil
	}
	// Watch when a slot last heard a master: from the start, a master
	// not heard yet counts as one last heard then.
	every := time.Second
	for _, d := range []time.Duration{idle, quiet} {
		if d > 0 {
			every = min(every, d/4)
		}
	}
	last := time.Now()
	silent := false // OnQuiet(true) called, and no master heard since
	tick := time.NewTicker(max(every, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			heard(last)
			return nil
		case now := <-tick.C:
			var heardNow bool
			last, heardNow = heard(last)
			switch {
			case silent && heardNow:
				silent = false
				cfg.OnQuiet(false)
			case !silent && quiet > 0 && now.Sub(last) >= quiet:
				silent = true
				cfg.OnQuiet(true)
			}
			if idle > 0 && now.Sub(last) >= idle {
				return idleError{idle: idle, never: !heardAny}
			}
		}
	}
}
