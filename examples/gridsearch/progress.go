package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// progress shows a run's progress on stderr: one line redrawn in place on a
// terminal, a line every lineEvery otherwise (a log file, a batch job).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	off   bool
	last  time.Time
	shown bool
	p     gridsearch.Progress
}

const lineEvery = 10 * time.Second

func newProgress(w io.Writer, mode string) *progress {
	pr := &progress{w: w}
	switch mode {
	case "none":
		pr.off = true
	case "tty":
		pr.tty = true
	case "auto":
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				pr.tty = true
			}
		}
	}
	return pr
}

func (pr *progress) update(p gridsearch.Progress) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.p = p
	if pr.off {
		return
	}
	if pr.tty {
		fmt.Fprintf(pr.w, "\r\033[K%s", line(p))
		pr.shown = true
		return
	}
	if time.Since(pr.last) >= lineEvery && p.Elapsed >= lineEvery/2 {
		pr.last = time.Now()
		fmt.Fprintln(pr.w, line(p))
	}
}

// println prints s as a line of its own, above the in-place line on a
// terminal, which it then redraws.
func (pr *progress) println(s string) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.tty && pr.shown {
		fmt.Fprintf(pr.w, "\r\033[K%s\n%s", s, line(pr.p))
		return
	}
	fmt.Fprintln(pr.w, s)
}

// finish ends the in-place line.
func (pr *progress) finish() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.tty && pr.shown {
		fmt.Fprintf(pr.w, "\r\033[K%s\n", line(pr.p))
	}
}

// line is "120/1000 done, 2 failed, 32 running, 5 queued, 31.5/s, ETA 28s, 32 slots":
// running on a slot, and handed out but waiting for one.
func line(p gridsearch.Progress) string {
	finished := p.Done + p.Failed
	todo := p.Total - p.Skipped
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(finished) / s
	}
	eta := "?"
	// No slot, no end in sight: the workers may all have gone.
	if rate > 0 && p.Slots > 0 {
		eta = (time.Duration(float64(todo-finished)/rate*float64(time.Second)) + time.Second/2).Truncate(time.Second).String()
	}
	s := fmt.Sprintf("%d/%d done, %d failed, %d running, %d queued, %.1f/s, ETA %s, %s",
		p.Done, todo, p.Failed, p.Running, p.Queued, rate, eta, count(p.Slots, "slot"))
	if p.Skipped > 0 {
		s += fmt.Sprintf(" (%d done before)", p.Skipped)
	}
	return s
}
