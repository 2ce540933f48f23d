package main

// FuzzSlurmOutput feeds arbitrary output of sbatch and squeue (programs
// of the site, whose answers change between SLURM versions and plugins)
// to their parsers and to the watch that reports squeue's: an id is
// digits or an error, a task line read has an id and a state without the
// separator, each poll says at most a line per task and two more, and
// nothing panics.
//
//	go test -run '^$' -fuzz FuzzSlurmOutput -fuzztime 60s ./examples/gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzSlurmOutput: the output's bytes.

import (
	"errors"
	"strings"
	"testing"
)

func FuzzSlurmOutput(f *testing.F) {
	f.Add([]byte("123;cluster\n"))
	f.Add([]byte("7_0|RUNNING|None\n7_1|PENDING|Resources\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		id, err := parseSbatch(out)
		switch {
		case err != nil && (id != "" || !errors.Is(err, errSlurm)):
			t.Fatalf("parseSbatch(%q) = %q, %v", out, id, err)
		case err == nil && (id == "" || len(id) > 20 || strings.Trim(id, "0123456789") != ""):
			t.Fatalf("parseSbatch(%q) = id %q", out, id)
		}
		tasks := parseSqueue(out)
		if len(tasks) > strings.Count(string(out), "\n")+1 {
			t.Fatalf("parseSqueue(%q): %d tasks from fewer lines", out, len(tasks))
		}
		for _, tk := range tasks {
			if tk.id == "" || tk.state == "" || strings.Contains(tk.id+tk.state, "|") {
				t.Fatalf("parseSqueue(%q): task %q", out, tk)
			}
		}
		said := 0
		w := &watch{id: "1", say: func(string) { said++ }, seen: map[string]string{}}
		for range 2 {
			said = 0
			w.update(tasks, nil)
			if said > len(tasks)+2 {
				t.Fatalf("one poll of %d tasks said %d lines", len(tasks), said)
			}
		}
	})
}
