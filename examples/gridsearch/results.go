package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
	done, err := checkResults(path, m, resume, force)
	if err != nil {
		return nil, nil, err
	}
	res, err := createResults(path, m, resume)
	return res, done, err
}

// checkResults is openResults's checks, which change nothing on disk: the
// run may yet fail to start. It returns the params of the points in the
// file to resume (a last line cut short left out).
func checkResults(path string, m meta, resume, force bool) (map[string]bool, error) {
	done := map[string]bool{}
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
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := parseDone(path, b[:bytes.LastIndexByte(b, '\n')+1], done); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// createResults opens the results file at path, checked by checkResults:
// a new one, or (resume) the old one with a last line cut short dropped.
// It writes the meta file.
func createResults(path string, m meta, resume bool) (*results, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if resume {
		if err := readDone(path, map[string]bool{}); err != nil && !os.IsNotExist(err) {
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

// readDone collects the params of the points in the file, and cuts off a
// last line that a crash left unfinished.
func readDone(path string, done map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end < len(b) {
		if err := os.Truncate(path, int64(end)); err != nil {
			return err
		}
	}
	return parseDone(path, b[:end], done)
}

// parseDone collects the params of the points in b, the whole lines of the
// results file path.
func parseDone(path string, b []byte, done map[string]bool) error {
	for i, line := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(line, &r); err != nil || len(r.Params) == 0 {
			return fmt.Errorf("%s:%d: not a result line", path, i+1)
		}
		done[string(r.Params)] = true
	}
	return nil
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
