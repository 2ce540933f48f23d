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
	if idle == 0 && quiet == 0 {
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
	heardAny := false
	tick := time.NewTicker(max(every, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			heard := false
			for _, w := range ws {
				h := w.Stats().LastHeard
				if h.After(last) {
					last, heard = h, true
				}
				heardAny = heardAny || !h.IsZero()
			}
			switch {
			case silent && heard:
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
