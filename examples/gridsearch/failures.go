package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// failures shows failed points on stderr as they come: the first
// showFailures whole (the point, why, its stderr's last lines), then the
// count of failures so far, at most every lineEvery and once at the end,
// that points to the results file, which has them all.
type failures struct {
	mu    sync.Mutex
	pr    *progress
	path  string // the results file
	n     int    // failures so far
	told  int    // the count last shown
	last  time.Time
	every time.Duration
}

const (
	showFailures = 3   // failures shown whole
	stderrLines  = 3   // lines of a failure's stderr shown
	maxLineLen   = 200 // bytes of each shown
)

func newFailures(pr *progress) *failures { return &failures{pr: pr, every: lineEvery} }

// add shows rec, a failed point, or counts it.
func (f *failures) add(rec gridsearch.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n <= showFailures {
		f.pr.println(failureText(rec))
		f.told = f.n
		return
	}
	if now := time.Now(); now.Sub(f.last) >= f.every {
		f.last = now
		f.tell(" so far")
	}
}

// finish shows the count of the failures not shown whole, if it has grown.
func (f *failures) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > f.told {
		f.tell("")
	}
}

// tell shows the running total, so that a count shown during the run and
// the one at its end never read as adding up.
func (f *failures) tell(sofar string) {
	f.pr.println(fmt.Sprintf("gridsearch: %d points failed%s, the first %d shown above; see %s", f.n, sofar, showFailures, f.path))
	f.told = f.n
}

// failureText is a failed point as shown: its parameters, why it failed,
// and the tail of its stderr, indented.
func failureText(rec gridsearch.Record) string {
	why := fmt.Sprintf("exit status %d", rec.Exit)
	switch {
	case rec.Error != "" && rec.Exit == -1:
		why = rec.Error // not run, killed, timed out: the exit code says nothing more
	case rec.Error != "":
		why += ": " + rec.Error
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gridsearch: point %d (%s) failed: %s", rec.Point, paramText(rec.Params), why)
	if rec.Attempts > 1 {
		fmt.Fprintf(&b, " (attempt %d)", rec.Attempts)
	}
	for _, l := range tailLines(rec.Stderr, stderrLines) {
		b.WriteString("\n    stderr: " + l)
	}
	return b.String()
}

// tailLines is the last n non-blank lines of s, each cut to maxLineLen.
func tailLines(s string, n int) []string {
	var out []string
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimRight(lines[i], "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if len(l) > maxLineLen {
			l = l[:maxLineLen] + "..."
		}
		out = append(out, l)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// strays shows on stderr the points whose command exited leaving a process
// that held its output open (Record.Stray): the first showFailures whole,
// then at the end how many there were. OnResult and the end of the run
// call it, one at a time.
type strays struct {
	pr   *progress
	path string // the results file
	n    int
}

func (s *strays) add(rec gridsearch.Record) {
	if !rec.Stray {
		return
	}
	s.n++
	if s.n <= showFailures {
		s.pr.println(fmt.Sprintf("gridsearch: point %d (%s): the command exited, but a process it started still held its stdout or stderr open; "+
			"its output was read until then, and the command's process group killed", rec.Point, paramText(rec.Params)))
	}
}

func (s *strays) finish() {
	if s.n > showFailures {
		s.pr.println(fmt.Sprintf("gridsearch: %d points left a process holding their output, the first %d shown above; their lines in %s have \"stray\": true",
			s.n, showFailures, s.path))
	}
}
