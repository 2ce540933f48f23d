package main

// FuzzResults feeds arbitrary results files to their readers: readDone
// (what -resume takes as done, after cutting a last line a crash left
// unfinished), readRecords (what the report reads) and, from the records
// read, the CSV of -csv. A bad line is an error naming its line, never a
// panic; the cut file is the whole lines and reads the same again; records
// read and written back (results.write) read the same, and -resume takes
// each of their points as done by the params the master marshals; the CSV
// reads back (encoding/csv) as one row a record with the record's cells;
// and reading costs no more memory than a bound in the file's size.
//
//	go test -run '^$' -fuzz FuzzResults -fuzztime 60s ./examples/gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzResults: a file's bytes.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"

	"github.com/zmqflow/zmqflow/gridsearch"
)

func FuzzResults(f *testing.F) {
	f.Add([]byte(`{"point":0,"params":{"p":0.1},"result":{"loss":0.5},"exit":0,"attempts":1,"duration":0.01,"worker":"local/0","host":"h","stdout":"","stderr":""}` + "\n"))
	f.Add([]byte(`{"point":0,"params":{"p":1}}` + "\n" + `{"point":1,"par`))
	f.Fuzz(func(t *testing.T, file []byte) {
		checkReadDone(t, file)
		if recs, ok := checkReadRecords(t, file); ok {
			checkWriteBack(t, recs)
			checkCSV(t, recs)
		}
	})
}

// resultLine reports whether a line is a result line as -resume takes it:
// blank, or an object with params.
func resultLine(line []byte) (params string, blank, ok bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return "", true, true
	}
	var r struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(line, &r) != nil || len(r.Params) == 0 {
		return "", false, false
	}
	return string(r.Params), false, true
}

// checkReadDone writes file and reads it as -resume does.
func checkReadDone(t *testing.T, file []byte) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	err := readDone(path, done)
	whole := file[:bytes.LastIndexByte(file, '\n')+1]
	if cut, _ := os.ReadFile(path); !bytes.Equal(cut, whole) {
		t.Fatalf("readDone left %q of %q, want %q", cut, file, whole)
	}
	want, bad := map[string]bool{}, 0
	for i, line := range bytes.Split(whole, []byte{'\n'}) {
		if p, blank, ok := resultLine(line); !ok {
			bad = i + 1
			break
		} else if !blank {
			want[p] = true
		}
	}
	switch {
	case bad > 0:
		if err == nil || err.Error() != fmt.Sprintf("%s:%d: not a result line", path, bad) {
			t.Fatalf("readDone(%q) = %v, want an error at line %d", file, err, bad)
		}
	case err != nil:
		t.Fatalf("readDone(%q): %v", file, err)
	case !mapsEqual(done, want):
		t.Fatalf("readDone(%q) = %v, want %v", file, done, want)
	}
	// Once cut, the file reads the same, and stays as it is.
	again := map[string]bool{}
	if err2 := readDone(path, again); (err2 == nil) != (err == nil) || err == nil && !mapsEqual(again, done) {
		t.Fatalf("readDone(%q) a second time = %v, %v; first %v, %v", whole, again, err2, done, err)
	}
	// What it reads it keeps: a line's params, and little more. A result
	// line is JSON decoded to find them: encoding/json's state, and
	// errors that quote the file's name.
	checkAlloc(t, "parseDone", len(whole), 16, func() { parseDone(path, whole, map[string]bool{}) })
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// checkReadRecords reads file as the report does.
func checkReadRecords(t *testing.T, file []byte) ([]gridsearch.Record, bool) {
	recs, err := readRecords(bytes.NewReader(file), "r.jsonl")
	if err != nil {
		if !strings.HasPrefix(err.Error(), "r.jsonl: ") {
			t.Fatalf("readRecords(%q): error %v does not name the file", file, err)
		}
		return nil, false
	}
	// A record costs its Record (160 bytes) in a slice that append grows
	// (the copies add up to 5x its size), from as little as "{}": 1 KiB a
	// record. What it holds (strings, params, the result) is built from
	// its bytes, read in a buffer that grows by doubling: 32x the file.
	checkAlloc(t, "readRecords", 32*len(file)+1024*len(recs), 1, func() { readRecords(bytes.NewReader(file), "r.jsonl") })
	return recs, true
}

// checkAlloc fails t when f allocates more than perByte bytes a byte of n,
// and 64 KiB. Over the bound, f runs twice more and the least counts, so
// that what other goroutines allocated meanwhile does not.
func checkAlloc(t *testing.T, what string, n int, perByte uint64, f func()) {
	t.Helper()
	fuzzcheck.CheckAlloc(t, fmt.Sprintf("%s, for %d,", what, n), perByte*uint64(n)+64<<10, f)
}

// checkWriteBack writes the records as a run does and reads them back.
func checkWriteBack(t *testing.T, recs []gridsearch.Record) {
	var buf bytes.Buffer
	res := &results{w: bufio.NewWriter(&buf)}
	for _, r := range recs {
		if err := res.write(r); err != nil {
			t.Fatalf("record %+v read from a file does not write: %v", r, err)
		}
	}
	res.w.Flush()
	back, err := readRecords(bytes.NewReader(buf.Bytes()), "r.jsonl")
	if err != nil || len(back) != len(recs) {
		t.Fatalf("%d records written as %q read back as %d, %v", len(recs), buf.Bytes(), len(back), err)
	}
	var buf2 bytes.Buffer
	res2 := &results{w: bufio.NewWriter(&buf2)}
	for _, r := range back {
		res2.write(r)
	}
	res2.w.Flush()
	if !bytes.Equal(buf2.Bytes(), buf.Bytes()) {
		t.Fatalf("records written as %q, read back and written as %q", buf.Bytes(), buf2.Bytes())
	}
	// -resume finds each point done by its params as the master marshals
	// them (execute's Skip).
	done := map[string]bool{}
	if err := parseDone("r.jsonl", buf.Bytes(), done); err != nil {
		t.Fatalf("records written as %q: %v", buf.Bytes(), err)
	}
	for _, r := range back {
		if p, _ := r.Params.MarshalJSON(); !done[string(p)] {
			t.Fatalf("record written as %q: params %s not taken as done (%v)", buf.Bytes(), p, done)
		}
	}
}

// checkCSV writes the records' CSV, its parameters those of the first
// record, and reads it back.
func checkCSV(t *testing.T, recs []gridsearch.Record) {
	var grid gridsearch.Grid
	if len(recs) > 0 {
		for _, nv := range recs[0].Params {
			if !slices.Contains(grid.Names(), nv.Name) {
				grid.Params = append(grid.Params, gridsearch.Param{Name: nv.Name})
			}
		}
	}
	var buf bytes.Buffer
	if err := csvRows(&buf, grid, recs); err != nil {
		t.Fatalf("CSV of %d records: %v", len(recs), err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll() // every row as long as the first
	if err != nil || len(rows) != len(recs)+1 {
		t.Fatalf("CSV %q of %d records reads as %d rows, %v", buf.Bytes(), len(recs), len(rows), err)
	}
	head := rows[0]
	names := grid.Names()
	if want := append(append([]string{"point"}, names...), "exit", "error", "attempts", "duration", "worker", "host"); !slices.Equal(head[:len(want)], want) {
		t.Fatalf("CSV head %q, want %q first", head, want)
	}
	// A cell reads back as written but for a CRLF in a quoted field, which
	// encoding/csv reads as LF.
	cell := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	for i, r := range recs {
		row := rows[i+1]
		want := []string{strconv.Itoa(r.Point)}
		for _, name := range names {
			v := ""
			for _, nv := range r.Params {
				if nv.Name == name {
					v = nv.Value.Text // the last of a name given twice
				}
			}
			want = append(want, cell(v))
		}
		want = append(want, strconv.Itoa(r.Exit), cell(r.Error), strconv.Itoa(r.Attempts),
			strconv.FormatFloat(r.Duration, 'f', 6, 64), cell(r.Worker), cell(r.Host))
		if !slices.Equal(row[:len(want)], want) {
			t.Fatalf("CSV row %d is %q, want %q first", i, row, want)
		}
	}
}

// readDone is -resume's reading of the results file alone (checkResults's
// scan, createResults's cut): it collects the params of the points in the
// file, and cuts off a last line that a crash left unfinished.
func readDone(path string, done map[string]bool) error {
	sc := &scanned{done: done, ok: map[string]bool{}}
	err := sc.scan(path)
	if sc.exists {
		if err := sc.cut(path); err != nil {
			return err
		}
	}
	return err
}

// parseDone is scan's reading of lines alone: it collects the params of
// the points in b, the whole lines of the results file path.
func parseDone(path string, b []byte, done map[string]bool) error {
	sc := &scanned{done: done, ok: map[string]bool{}}
	n := 0
	for line := range bytes.Lines(b) {
		n++
		if err := sc.add(path, n, line); err != nil {
			return err
		}
	}
	return nil
}
