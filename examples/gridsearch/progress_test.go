package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

func TestProgress(t *testing.T) {
	p := gridsearch.Progress{Total: 110, Skipped: 10, Done: 40, Failed: 10, Running: 4, Queued: 2, Slots: 4, Elapsed: 10 * time.Second}
	if got, want := line(p), "40/100 done, 10 failed, 4 running, 2 queued, 5.0/s, ETA 10s, 4 slots (10 done before)"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	// Every worker gone: no ETA from the rate of the ones that left.
	p0 := gridsearch.Progress{Total: 10, Done: 4, Queued: 5, Elapsed: 10 * time.Second}
	if got, want := line(p0), "4/10 done, 0 failed, 0 running, 5 queued, 0.4/s, ETA ?, 0 slots"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	p1 := gridsearch.Progress{Total: 10, Done: 4, Running: 1, Slots: 1, Elapsed: 10 * time.Second}
	if got, want := line(p1), "4/10 done, 0 failed, 1 running, 0 queued, 0.4/s, ETA 15s, 1 slot"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	var tty bytes.Buffer
	pr := newProgress(&tty, "tty")
	pr.update(p)
	pr.update(p)
	pr.finish()
	if s := tty.String(); strings.Count(s, "\r\033[K") != 3 || !strings.HasSuffix(s, "\n") {
		t.Errorf("tty output %q", s)
	}
	var log bytes.Buffer
	pr = newProgress(&log, "lines")
	pr.update(p)
	pr.update(p) // within lineEvery of the first: not printed
	pr.finish()
	if s := log.String(); strings.Count(s, "\n") != 1 || strings.Contains(s, "\r") {
		t.Errorf("lines output %q", s)
	}
}
