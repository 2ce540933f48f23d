package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/telemetry/collect"
)

func TestUsage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		out  string // in stdout, or stderr for a failure
	}{
		{[]string{"-h"}, exitOK, "zprof collect -bind EP"},
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"collect", "-h"}, exitOK, "-bind EP"},
		{[]string{"top", "-h"}, exitOK, "-connect EP"},
		{[]string{"report", "-h"}, exitOK, "-o FILE"},
		{[]string{"collect", "-db", "x.db"}, exitUsage, "-bind is required"},
		{[]string{"collect", "-bind", "tcp://127.0.0.1:0"}, exitUsage, "-db is required"},
		{[]string{"collect", "-bind", "nowhere", "-db", filepath.Join(dir, "x.db")}, exitUsage, "invalid endpoint"},
		{[]string{"collect", "-bind", "tcp://127.0.0.1:0", "-db", filepath.Join(dir, "x.db"), "-http", "nohost:port:x"}, exitUsage, "-http"},
		{[]string{"collect", "-bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"top"}, exitUsage, "-connect is required"},
		{[]string{"top", "-connect", "udp://x"}, exitUsage, "invalid endpoint"},
		{[]string{"report", "-db", filepath.Join(dir, "none.db"), "-o", filepath.Join(dir, "r.html")}, exitFail, "none.db"},
		{[]string{"report", "-db", "x"}, exitUsage, "-o is required"},
	}
	for _, c := range cases {
		var stdout, stderr strings.Builder
		code := run(ctx, c.args, &stdout, &stderr)
		text := stdout.String()
		if c.code != exitOK {
			text += stderr.String()
		}
		if code != c.code || !strings.Contains(text, c.out) {
			t.Errorf("zprof %v: exit %d, %q; want exit %d and %q", c.args, code, text, c.code, c.out)
		}
		// Each command's -h prints its usage once.
		if n := strings.Count(stdout.String(), "Usage:"); c.code == exitOK && n != 1 {
			t.Errorf("zprof %v: %d usages in %q, want 1", c.args, n, stdout.String())
		}
	}
}

// An -http address already taken is a failure (exit 1, as a failed bind),
// not a bad command line, and a collector that could not start leaves no
// database or profile behind.
func TestCollectHTTPTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	db, prof := filepath.Join(dir, "p.db"), filepath.Join(dir, "cpu.prof")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"collect", "-bind", "tcp://127.0.0.1:0", "-db", db,
		"-http", ln.Addr().String(), "-cpuprofile", prof}, &stdout, &stderr)
	want := "zprof: -http: listen tcp " + ln.Addr().String()
	if code != exitFail || !strings.HasPrefix(stderr.String(), want) || strings.Contains(stderr.String(), "usage") {
		t.Errorf("exit %d, stderr %q; want exit %d and %q...", code, stderr.String(), exitFail, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("left %v behind", entries)
	}
}

// zprof report reads the database and leaves nothing beside it but the
// report: no -wal or -shm.
func TestReportLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p2.db")
	st, err := collect.OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"report", "-db", db, "-o", filepath.Join(dir, "r2.html")}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"p2.db", "r2.html"}; !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
}

// zprof top, subscribed to the collector's PUB, shows every producer's
// actors with their totals.
func TestTop(t *testing.T) {
	ctx := testContext(t)
	c := startCollector(t, ctx, "tcp://127.0.0.1:0", filepath.Join(t.TempDir(), "z.db"))
	var ps []*producer
	for i := range 2 {
		ps = append(ps, startProducer(t, ctx, c.pull, fmt.Sprintf("t%d", i), 10, 100+i))
	}
	for _, p := range ps {
		p.wait(t, ctx)
	}
	out, err := exec.CommandContext(ctx, zprofBin, "top", "-connect", c.pub, "-n", "3", "-interval", "300ms").Output()
	if err != nil {
		t.Fatal(err)
	}
	frames := strings.Split(strings.TrimSpace(string(out)), "\n\n")
	last := frames[len(frames)-1]
	for i, p := range ps {
		for _, actor := range []string{"source", "worker", "sink"} {
			if !hasRow(last, fmt.Sprintf("t%d[", i), actor, fmt.Sprint(p.handled)) {
				t.Errorf("no row for t%d's %s with total %d in:\n%s", i, actor, p.handled, last)
			}
		}
	}
	c.stop(t, ctx)
}

func hasRow(table, proc, actor, total string) bool {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[0], proc) && f[1] == actor && f[4] == total {
			return true
		}
	}
	return false
}
