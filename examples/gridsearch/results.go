package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// meta is the sidecar file beside the results (<out>.meta.json): what job
// the results belong to, so that -resume can refuse another job's file.
type meta struct {
	Fingerprint string   `json:"fingerprint"`
	Params      []string `json:"params"`
	Command     []string `json:"command"`
	Points      int      `json:"points"`
}

func metaPath(out string) string { return out + ".meta.json" }

// encode is the meta file's text.
func (m meta) encode() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// parseMeta reads a meta file's text.
func parseMeta(b []byte) (meta, error) {
	var m meta
	err := json.Unmarshal(b, &m)
	return m, err
}

// results is the JSON Lines file, written one whole line per point. Lines
// go through a buffer that is flushed with each progress update and at the
// end; a line cut short by a crash is dropped by the next -resume.
type results struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
}

// openResults creates or (resume) continues the results file at path for
// the job m. It returns the params (as JSON) of the points already there.
func openResults(path string, m meta, resume, force bool) (*results, map[string]bool, error) {
	sc, err := checkResults(path, m, resume, force, "")
	if err != nil {
		return nil, nil, err
	}
	res, err := createResults(path, m, sc)
	return res, sc.done, err
}

// scanned is what -resume takes from the results file, read once, line by
// line: the points with a line (done) and those with a success (ok), by
// params as the file has them; and the file's size when read and the
// bytes of its whole lines (end), a last line without its newline, cut
// short by a crash, left out. With a field to look for (-maximize or
// -minimize), whether a succeeded point's result has it (hasField), and
// the first succeeded point (firstOK), whose fields an error can name.
type scanned struct {
	exists    bool // resume, and the file was there
	done, ok  map[string]bool
	size, end int64
	field     string
	hasField  bool
	firstOK   *gridsearch.Record
}

// checkResults is openResults's checks, which change nothing on disk: the
// run may yet fail to start. Resuming, it reads the file (scan), looking
// for field, if not "", in the succeeded points' results.
func checkResults(path string, m meta, resume, force bool, field string) (*scanned, error) {
	sc := &scanned{done: map[string]bool{}, ok: map[string]bool{}, field: field}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	switch {
	case exists && !resume && !force:
		return nil, fmt.Errorf("results file %s exists: -resume to continue it, -force to overwrite it", path)
	case exists && resume:
		if b, err := os.ReadFile(metaPath(path)); err == nil {
			old, err := parseMeta(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", metaPath(path), err)
			}
			if old.Fingerprint != m.Fingerprint && !force {
				return nil, fmt.Errorf("cannot resume %s: it is for another grid or command (%s -- %s), -force to resume anyway (points with the same parameters are skipped)",
					path, strings.Join(old.Params, " "), strings.Join(old.Command, " "))
			}
		} else if !force {
			return nil, fmt.Errorf("cannot resume %s: %s is missing, -force to resume anyway", path, metaPath(path))
		}
		if err := sc.scan(path); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// createResults opens the results file at path, checked by checkResults
// (sc): a new one, or (resume: sc.exists) the old one with a last line cut
// short dropped. It writes the meta file.
func createResults(path string, m meta, sc *scanned) (*results, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if sc.exists {
		if err := sc.cut(path); err != nil {
			return nil, err
		}
	} else {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	return startResults(f, path, m)
}

// startResults writes the meta file of the results file f at path.
func startResults(f *os.File, path string, m meta) (*results, error) {
	if err := os.WriteFile(metaPath(path), m.encode(), 0o644); err != nil {
		f.Close()
		return nil, err
	}
	return &results{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}, nil
}

// scan reads the results file at path, streaming: only a line at a time
// is held. A line that is not a result line is an error naming it; the
// file is read to its end even then, for its whole lines' bytes.
func (sc *scanned) scan(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc.exists = true
	r := bufio.NewReaderSize(f, 64<<10)
	var bad error
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			long := slices.Clone(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			sc.size = sc.end + int64(len(line))
			return bad
		}
		if err != nil {
			return err
		}
		sc.end += int64(len(line))
		if bad == nil {
			bad = sc.add(path, n, line)
		}
	}
}

// cut drops what follows the whole lines of the file at path, as scan
// found them, and refuses a file that changed since.
func (sc *scanned) cut(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() != sc.size {
		return fmt.Errorf("%s changed while the run started (%d bytes, then %d): run again", path, sc.size, fi.Size())
	}
	if sc.end < sc.size {
		return os.Truncate(path, sc.end)
	}
	return nil
}

// add takes line n of the results file path: its point is done, and ok if
// it succeeded (exit 0, no error). A blank line is passed; any other that
// is not an object with params is an error.
func (sc *scanned) add(path string, n int, line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	var r struct {
		Params json.RawMessage `json:"params"`
		Exit   json.RawMessage `json:"exit"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &r); err != nil || len(r.Params) == 0 {
		return fmt.Errorf("%s:%d: not a result line", path, n)
	}
	sc.done[string(r.Params)] = true
	var exit int
	var why string
	if (r.Exit == nil || json.Unmarshal(r.Exit, &exit) == nil) && exit == 0 &&
		(r.Error == nil || json.Unmarshal(r.Error, &why) == nil) && why == "" {
		sc.ok[string(r.Params)] = true
		sc.lookForField(line)
	}
	return nil
}

// lookForField looks for sc's field in the result of a succeeded point's
// line, until one has it.
func (sc *scanned) lookForField(line []byte) {
	if sc.field == "" || sc.hasField {
		return
	}
	var rec gridsearch.Record
	if json.Unmarshal(line, &rec) != nil {
		return
	}
	if _, ok := gridsearch.Field(rec.Result, sc.field); ok {
		sc.hasField = true
	} else if sc.firstOK == nil {
		sc.firstOK = &rec
	}
}

func (r *results) write(rec gridsearch.Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Write(b)
	return r.w.WriteByte('\n')
}

func (r *results) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Flush()
}

func (r *results) close() error {
	return errors.Join(r.flush(), r.f.Close())
}

// loadRecords reads every record of a results file.
func loadRecords(path string) ([]gridsearch.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRecords(f, path)
}

// readRecords reads every record of the results file path from r.
func readRecords(r io.Reader, path string) ([]gridsearch.Record, error) {
	var recs []gridsearch.Record
	dec := json.NewDecoder(r)
	for {
		var r gridsearch.Record
		if err := dec.Decode(&r); err == io.EOF {
			return recs, nil
		} else if err != nil {
			return recs, fmt.Errorf("%s: %v", path, err)
		}
		recs = append(recs, r)
	}
}
