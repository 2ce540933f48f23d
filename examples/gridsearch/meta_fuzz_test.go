package main

// FuzzMeta feeds arbitrary meta files (<out>.meta.json, which -resume
// checks) to parseMeta and to openResults. A meta file read is written back
// as the same text and reads as the same; one made from the input reads as
// it was; and -resume takes the results file of a meta file whose
// fingerprint is the job's, refuses one whose fingerprint is not (unless
// -force) or that is not a meta file, and never panics.
//
//	go test -run '^$' -fuzz FuzzMeta -fuzztime 60s ./examples/gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzMeta: the meta file's bytes.

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// fuzzJob is the job the fuzzed meta files are checked against.
var fuzzJob = meta{Fingerprint: "0123456789abcdef", Params: []string{"p=1,2"}, Command: []string{"echo", "{p}"}, Points: 2}

func FuzzMeta(f *testing.F) {
	f.Add(fuzzJob.encode())
	f.Add([]byte(`{"fingerprint":"fedcba9876543210","params":["q=1..3"],"command":["true"],"points":3}`))
	f.Fuzz(func(t *testing.T, file []byte) {
		m, err := parseMeta(file)
		if err == nil {
			enc := m.encode()
			m2, err := parseMeta(enc)
			if err != nil || !reflect.DeepEqual(m2, m) || !bytes.Equal(m2.encode(), enc) {
				t.Fatalf("meta %q reads as %+v, written as %q reads as %+v, %v", file, m, enc, m2, err)
			}
		}
		checkMetaEncode(t, file)
		checkResume(t, file, m, err == nil)
	})
}

// checkMetaEncode makes a meta of the input's lines and reads it back.
func checkMetaEncode(t *testing.T, file []byte) {
	lines := strings.Split(string(file), "\n")
	m := meta{Fingerprint: lines[0], Params: lines, Command: lines[len(lines)/2:], Points: len(file) - 3}
	got, err := parseMeta(m.encode())
	// encoding/json keeps valid UTF-8 only.
	want := meta{Fingerprint: fuzzcheck.JSONText(m.Fingerprint), Points: m.Points}
	for _, l := range m.Params {
		want.Params = append(want.Params, fuzzcheck.JSONText(l))
	}
	want.Command = want.Params[len(lines)/2:]
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("meta %+v written as %q reads as %+v, %v", m, m.encode(), got, err)
	}
}

// checkResume runs openResults with -resume on a results file whose meta
// file is file, with and without -force.
func checkResume(t *testing.T, file []byte, m meta, isMeta bool) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	line := []byte(`{"point":1,"params":{"p":2},"result":null,"exit":0,"attempts":1,"duration":0,"worker":"w","host":"h","stdout":"","stderr":""}` + "\n")
	for _, force := range []bool{false, true} {
		if err := os.WriteFile(out, line, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(metaPath(out), file, 0o644); err != nil {
			t.Fatal(err)
		}
		res, done, err := openResults(out, fuzzJob, true, force)
		ok := isMeta && (m.Fingerprint == fuzzJob.Fingerprint || force)
		if ok != (err == nil) {
			t.Fatalf("resume with meta %q (force %v): %v; want ok %v", file, force, err, ok)
		}
		if err != nil {
			continue
		}
		res.close()
		if len(done) != 1 || !done[`{"p":2}`] {
			t.Fatalf("resume with meta %q (force %v): done %v", file, force, done)
		}
		// The job's meta file replaces it.
		if b, _ := os.ReadFile(metaPath(out)); !bytes.Equal(b, fuzzJob.encode()) {
			t.Fatalf("resume with meta %q: meta file now %q", file, b)
		}
	}
}
