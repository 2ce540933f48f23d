package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// keygen makes a cluster key in dir and returns its secret file.
func keygen(t *testing.T, dir, name string) string {
	t.Helper()
	p := start(t, testContext(t), dir, "keygen", "-o", name)
	if code := p.wait(); code != 0 {
		t.Fatalf("keygen %s: exit %d: %q", name, code, p.stderr)
	}
	secret := filepath.Join(dir, name+"_secret")
	if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keygen %s: secret file: %v, %v", name, fi, err)
	}
	return secret
}

// With -key, only a worker that holds the cluster key runs points: one
// with another key and one with none are refused, say why (and so does
// the master), and get no point; a worker with the key does every point. A keyed worker takes
// nothing from a master without the key.
func TestKeyWhoMayJoin(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	key, other := keygen(t, dir, "cluster"), keygen(t, dir, "other")
	const n = 12
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0", "-key", key,
		"-out", out, "-progress", "none", "-param", fmt.Sprintf("i=1..%d", n)}, square...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	failed := "^gridsearch worker: handshake with " + regexp.QuoteMeta(ep) + " failed: "
	wrong := start(t, ctx, dir, "worker", "-connect", ep, "-key", other, "-slots", "2")
	wrong.expect(t, ctx, failed+"the master has another -key")
	none := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "2")
	none.expect(t, ctx, failed+"the master may need -key")
	// The master says so too: otherwise it shows only no slots.
	master.expect(t, ctx, `^gridsearch: refused a worker from 127\.0\.0\.1:\d+: it has another -key or none, or it is no gridsearch worker \(.+\); it gets no point$`)
	// Both are refused before the keyed worker comes: had the master
	// admitted either, it would have had every point to give it.
	good := start(t, ctx, dir, "worker", "-connect", ep, "-key", key, "-slots", "2")
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %q", code, master.stderr)
	}
	recs := readResults(t, out)
	checkSquares(t, recs, n)
	want := fmt.Sprintf(":%d", good.cmd.Process.Pid)
	for _, r := range recs {
		if !strings.HasSuffix(strings.Split(r.Worker, "/")[0], want) {
			t.Errorf("point %d done by %s, not the keyed worker (pid %d)", r.Point, r.Worker, good.cmd.Process.Pid)
		}
	}
	for _, w := range []*proc{wrong, none, good} {
		w.cmd.Process.Signal(os.Interrupt)
		w.wait()
	}
	if strings.Contains(strings.Join(good.stderr, "\n"), "handshake") {
		t.Errorf("keyed worker: %q", good.stderr)
	}

	// A master without the key: the keyed worker refuses it.
	out2 := filepath.Join(dir, "r2.jsonl")
	master = start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", out2, "-progress", "none", "-param", "i=1..3"}, square...)...)
	ep = master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	good = start(t, ctx, dir, "worker", "-connect", ep, "-key", key, "-slots", "2")
	good.expect(t, ctx, "^gridsearch worker: handshake with "+regexp.QuoteMeta(ep)+" failed: the master has another -key, or is no gridsearch master")
	master.expect(t, ctx, `^gridsearch: refused a worker from 127\.0\.0\.1:\d+: it has a -key and this run has none, or it is no gridsearch worker \(.+\); it gets no point$`)
	master.cmd.Process.Signal(os.Interrupt)
	if code := master.wait(); code != 130 {
		t.Errorf("unkeyed master: exit %d, want 130: %q", code, master.stderr)
	}
	if recs := readResults(t, out2); len(recs) != 0 {
		t.Errorf("a keyed worker ran points of a master without the key: %+v", recs)
	}
}

// A worker with -idle that a keyed master refuses (it has no -key) never
// gets a master: it exits with status 1, its last line saying so, so that
// a script or SLURM does not take it for a worker that did its share.
// (One that served a master exits 0: TestWorkerIdle.)
func TestWorkerRefusedExitsNonZero(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	key := keygen(t, dir, "cluster")
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0", "-key", key,
		"-out", filepath.Join(dir, "r.jsonl"), "-progress", "none", "-param", "i=1..2"}, square...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "1", "-idle", "5s")
	w.expect(t, ctx, "^gridsearch worker: handshake with "+regexp.QuoteMeta(ep)+" failed: the master may need -key")
	code := w.wait()
	want := "gridsearch worker: no master served this worker at " + ep + " in 5s; exiting with status 1"
	if code != 1 || len(w.stderr) == 0 || w.stderr[len(w.stderr)-1] != want {
		t.Errorf("refused worker: exit %d, stderr %q; want exit 1, last line %q", code, w.stderr, want)
	}
	master.cmd.Process.Signal(os.Interrupt)
	master.wait()
}

// Without -key, a master bound beyond loopback (a wildcard included), and
// a worker connecting beyond it, warn; on loopback, or with -key, not. The
// local slots of a keyed master join it through CURVE.
func TestKeyWarning(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	key := keygen(t, dir, "cluster")
	warning := "gridsearch: warning: -bind tcp://*:* without -key"
	for i, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"-bind", "tcp://*:*"}, true},
		{[]string{"-bind", "tcp://*:*", "-key", key}, false},
		{[]string{"-bind", "tcp://127.0.0.1:*"}, false},
		{nil, false},
	} {
		out := filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i))
		args := append(append([]string{"run", "-workers", "2", "-out", out, "-progress", "none", "-param", "i=1..4"}, tc.args...), square...)
		p := start(t, ctx, dir, args...)
		if code := p.wait(); code != 0 {
			t.Fatalf("%q: exit %d: %q", tc.args, code, p.stderr)
		}
		checkSquares(t, readResults(t, out), 4)
		stderr := strings.Join(p.stderr, "\n")
		if got := strings.Contains(stderr, "without -key"); got != tc.warn || tc.warn && !strings.Contains(stderr, warning) {
			t.Errorf("%q: warned %v, want %v: %q", tc.args, got, tc.warn, p.stderr)
		}
	}
	w := start(t, ctx, dir, "worker", "-connect", "tcp://192.0.2.1:9", "-slots", "1")
	w.expect(t, ctx, `^gridsearch worker: warning: no -key: any master at tcp://192.0.2.1:9 may have this worker run any command$`)
	w.cmd.Process.Signal(os.Interrupt)
	w.wait()
}

// Keys that cannot serve: one line, exit status 2, no work.
func TestKeyErrors(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	key := keygen(t, dir, "cluster")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "-o", "cluster"}, "cluster exists; not overwritten"},
		{[]string{"keygen"}, "usage: gridsearch keygen -o NAME"},
		{[]string{"run", "-bind", "tcp://127.0.0.1:*", "-key", strings.TrimSuffix(key, "_secret"), "-param", "i=1,2", "--", "true"}, "holds no secret key: give " + key},
		{[]string{"run", "-key", key, "-param", "i=1,2", "--", "true"}, "-key is for remote workers: give -bind too"},
		{[]string{"run", "-bind", "tcp://127.0.0.1:*", "-key", filepath.Join(dir, "none"), "-param", "i=1,2", "--", "true"}, "-key " + filepath.Join(dir, "none")},
		{[]string{"worker", "-connect", "tcp://127.0.0.1:9", "-key", strings.TrimSuffix(key, "_secret")}, "holds no secret key"},
	} {
		p := start(t, ctx, dir, tc.args...)
		if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, p.stderr, tc.want)
		}
	}
	// A file that cannot be written is named as given, not as the
	// temporary file it is written through.
	p := start(t, ctx, dir, "keygen", "-o", "no-such-dir/cluster")
	if code := p.wait(); code != 1 || len(p.stderr) != 1 || p.stderr[0] != "gridsearch: keygen -o no-such-dir/cluster: no such file or directory" {
		t.Errorf("keygen into no directory: exit %d, stderr %q", code, p.stderr)
	}
	if got := files(t, dir); strings.Join(got, " ") != "cluster cluster_secret" {
		t.Errorf("files left: %q", got)
	}
}
