package gridsearch

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfTerminating is a task whose command says it is about to die (the
// file ready) and kills itself with SIGTERM, as a batch system's signal
// to a whole job does.
func selfTerminating(t *testing.T, ready string) [][]byte {
	b, err := json.Marshal(task{Point: 0, Attempt: 1, Argv: []string{"sh", "-c", `: > "$1"; kill -TERM $$`, "sh", ready}})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{b}
}

// A command killed by SIGTERM while its worker is closing too is given
// back (the handler returns ctx's error), not reported failed.
func TestTerminatedWithWorker(t *testing.T) {
	defer func(d time.Duration) { terminatedGrace = d }(terminatedGrace)
	terminatedGrace = time.Minute // far beyond the test: the worker's end must cut it short
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(cmdCtx(t))
	defer cancel()
	type result struct {
		frames [][]byte
		err    error
	}
	res := make(chan result, 1)
	go func() {
		f, err := handler("w", "h", 0, nil)(ctx, selfTerminating(t, ready))
		res <- result{f, err}
	}()
	for { // the command has started its end; the worker closes now
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case <-cmdCtx(t).Done():
			t.Fatal("the command never ran")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case r := <-res:
		if r.err == nil {
			t.Errorf("reported %q; want the point given back", r.frames)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return when its worker closed")
	}
}

// A command killed by SIGTERM while its worker goes on is reported failed,
// after the grace.
func TestTerminatedAlone(t *testing.T) {
	defer func(d time.Duration) { terminatedGrace = d }(terminatedGrace)
	terminatedGrace = 10 * time.Millisecond
	f, err := handler("w", "h", 0, nil)(cmdCtx(t), selfTerminating(t, filepath.Join(t.TempDir(), "ready")))
	var o outcome
	if err != nil || len(f) != 1 || json.Unmarshal(f[0], &o) != nil || o.Exit != -1 || o.Error != "signal: terminated" {
		t.Errorf("reply %q, %v; want the point failed with signal: terminated", f, err)
	}
}
