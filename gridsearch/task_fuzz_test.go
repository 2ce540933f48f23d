package gridsearch

// FuzzTask feeds arbitrary request and reply frames to the two ends of a
// grid search: to a worker slot's handler as a task from the master (with a
// Go function, so that no command runs), to the master's abandon as a task
// the broker gave up on, and to the master as an outcome from a worker,
// which it writes into the results file. A task that decodes runs and is
// answered with an outcome that decodes, whose result holds the task's
// parameters; one that does not is an error, never a panic; an outcome
// makes a record that encodes, and decodes to the same.
//
//	go test -run '^$' -fuzz FuzzTask -fuzztime 60s ./gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzTask: the frame's bytes.

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// echoParams is a Func that answers with the point's parameters, as the
// point has them (the first of a name given twice).
func echoParams(_ context.Context, p Point) (any, error) {
	m := map[string]string{}
	for _, par := range p.grid.Params {
		if _, dup := m[par.Name]; !dup {
			v, _ := p.Get(par.Name)
			m[par.Name] = v.Text
		}
	}
	return m, nil
}

func FuzzTask(f *testing.F) {
	f.Add([]byte(`{"point":3,"attempt":1,"params":[["p","0.1"],["s","adam"]],"argv":["./think","{p}","{s}"]}`))
	f.Add([]byte(`{"result":{"loss":0.5},"exit":0,"duration":1000,"worker":"h:1/0","host":"h"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkHandler(t, frame)
		checkAbandon(t, frame)
		checkOutcome(t, frame)
	})
}

// checkHandler gives frame to a slot's handler as a task.
func checkHandler(t *testing.T, frame []byte) {
	var task task
	taskErr := json.Unmarshal(frame, &task)
	h := handler("local/0", "host", 0, echoParams)
	reply, err := h(context.Background(), [][]byte{frame})
	if taskErr != nil {
		if err == nil {
			t.Fatalf("task %q does not decode (%v), and the handler answered %q", frame, taskErr, reply)
		}
		return
	}
	if err != nil || len(reply) != 1 {
		t.Fatalf("task %q: handler answered %q, %v", frame, reply, err)
	}
	var o outcome
	if err := json.Unmarshal(reply[0], &o); err != nil {
		t.Fatalf("task %q: reply %q does not decode: %v", frame, reply[0], err)
	}
	if o.Worker != "local/0" || o.Host != "host" {
		t.Fatalf("task %q: reply %+v", frame, o)
	}
	if strings.HasPrefix(o.Error, "timeout") {
		return // a Timeout of a few ns may end before the Func
	}
	if o.Exit != 0 || o.Error != "" {
		t.Fatalf("task %q: reply %+v", frame, o)
	}
	var got map[string]string
	if err := json.Unmarshal(o.Result, &got); err != nil {
		t.Fatalf("task %q: result %q: %v", frame, o.Result, err)
	}
	for _, nv := range task.Params {
		if v, ok := got[nv[0]]; !ok || v != firstValue(task.Params, nv[0]) {
			t.Fatalf("task %q: result %q has %q = %q", frame, o.Result, nv[0], v)
		}
	}
	// The command the point would run: each known {name} replaced by its
	// value, one argument each.
	out := task.point().Expand(task.Argv)
	if len(out) != len(task.Argv) {
		t.Fatalf("task %q: Expand made %d arguments of %d", frame, len(out), len(task.Argv))
	}
	for i, a := range task.Argv {
		if !strings.ContainsAny(a, "{}") && out[i] != a {
			t.Fatalf("task %q: Expand changed %q into %q", frame, a, out[i])
		}
	}
}

func firstValue(params [][2]string, name string) string {
	for _, nv := range params {
		if nv[0] == name {
			return nv[1]
		}
	}
	return ""
}

// checkAbandon gives frame to the master as the body the broker gave up on.
func checkAbandon(t *testing.T, frame []byte) {
	r := &run{wake: make(chan struct{}, 1)}
	r.abandon([][]byte{frame})
	var task task
	if json.Unmarshal(frame, &task) != nil {
		if len(r.abandoned) != 0 {
			t.Fatalf("abandon took %q, not a task: %v", frame, r.abandoned)
		}
		return
	}
	if len(r.abandoned) != 1 || r.abandoned[0] != [2]int{task.Point, task.Attempt} || len(r.wake) != 1 {
		t.Fatalf("abandon of %q: %v", frame, r.abandoned)
	}
}

// checkOutcome gives frame to the master as a worker's reply (request),
// makes the record of it (record) and writes and reads that record as the
// results file does.
func checkOutcome(t *testing.T, frame []byte) {
	g, err := NewGrid("p=1,2")
	if err != nil {
		t.Fatal(err)
	}
	r := &run{cfg: Config{Grid: g}}
	rep := reply{point: 1, attempts: 2}
	if err := json.Unmarshal(frame, &rep.out); err != nil {
		rep.out = outcome{Exit: -1, Error: "bad reply: " + err.Error()}
	}
	rec := r.record(rep)
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("outcome %q makes record %+v, which does not encode: %v", frame, rec, err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("outcome %q: record %q does not decode: %v", frame, b, err)
	}
	if back.Point != 1 || back.Attempts != 2 || back.Exit != rec.Exit || back.Error != fuzzcheck.JSONText(rec.Error) ||
		back.Worker != rec.Worker || back.Stdout != rec.Stdout || back.Duration != rec.Duration ||
		len(back.Params) != 1 || back.Params[0].Value.Text != "2" {
		t.Fatalf("outcome %q: record %+v reads back as %+v", frame, rec, back)
	}
	if rec.Result != nil && !bytes.Equal(compactJSON(t, back.Result), compactJSON(t, rec.Result)) {
		t.Fatalf("outcome %q: result %q reads back as %q", frame, rec.Result, back.Result)
	}
}

// compactJSON is b as encoding/json writes JSON: compact, with <, > and &
// escaped.
func compactJSON(t *testing.T, b []byte) []byte {
	var c, e bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatalf("%q is not JSON: %v", b, err)
	}
	json.HTMLEscape(&e, c.Bytes())
	return e.Bytes()
}
