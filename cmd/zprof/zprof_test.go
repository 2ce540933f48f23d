package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/internal/proctest"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// The tests run the real zprof binary and producer processes
// (internal/producer, which sends batches made with OTLP's generated
// types) over loopback. When the telemetry package's exporter lands, a
// zmqflow program with ZMQFLOW_PROFILE set can take the producer's place:
// startProducer is the one place to change.

var zprofBin, producerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zprof-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	zprofBin, producerBin = filepath.Join(dir, "zprof"), filepath.Join(dir, "producer")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, b := range [][2]string{{zprofBin, "."}, {producerBin, "./internal/producer"}} {
		if out, err := exec.Command("go", append(args, "-o", b[0], b[1])...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b[1], err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// testTimeout bounds every test: each process is killed by then, and every
// wait gives up.
const testTimeout = 60 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// collectorProc is a running zprof collect.
type collectorProc struct {
	*proctest.Proc
	pull, pub, http string
}

var startLine = regexp.MustCompile(`^zprof: collecting on (\S+), publishing on (\S+), serving (\S+), storing into`)

// startCollector runs zprof collect on bind (tcp://127.0.0.1:0 for any
// port) with PUB and HTTP on free ports, storing into db.
func startCollector(t *testing.T, ctx context.Context, bind, db string) *collectorProc {
	t.Helper()
	p := proctest.Start(t, ctx, zprofBin, "collect", "-bind", bind, "-db", db, "-http", "127.0.0.1:0", "-pub", "tcp://127.0.0.1:0")
	line := p.Line(t, ctx)
	m := startLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("zprof collect said %q", line)
	}
	return &collectorProc{Proc: p, pull: m[1], pub: m[2], http: m[3]}
}

// stop ends the collector with SIGTERM and waits for its last line: it
// has flushed and closed the database by then.
func (c *collectorProc) stop(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := c.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := c.Line(t, ctx); !strings.Contains(l, "batches") {
		t.Fatalf("zprof collect's last line: %q", l)
	}
}

// producer is a running producer and what it did.
type producer struct {
	*proctest.Proc
	name, instance string
	handled, sent  int64
}

// startProducer runs a producer of ticks ticks, each handling per
// messages through each of its actors, with the producer's flags extra
// beside.
func startProducer(t *testing.T, ctx context.Context, ep, name string, ticks, per int, extra ...string) *producer {
	t.Helper()
	args := append([]string{"-connect", ep, "-name", name, "-ticks", strconv.Itoa(ticks), "-per", strconv.Itoa(per)}, extra...)
	p := proctest.Start(t, ctx, producerBin, args...)
	return &producer{Proc: p, name: name}
}

// wait reads the producer's "done INSTANCE HANDLED DROPPED TASKS" line.
func (p *producer) wait(t *testing.T, ctx context.Context) {
	t.Helper()
	var dropped int64
	if _, err := fmt.Sscanf(p.Line(t, ctx), "done %s %d %d %d", &p.instance, &p.handled, &dropped, &p.sent); err != nil {
		t.Fatal(err)
	}
	t.Logf("producer %s: %d handled, %d batches dropped, %d task spans handed over", p.instance, p.handled, dropped, p.sent)
}

// waitTotals waits until the collector's /metrics shows each producer's
// final total of messages handled by its sink.
func waitTotals(t *testing.T, ctx context.Context, c *collectorProc, ps []*producer) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m := get(t, c.http+"metrics")
		missing := 0
		for _, p := range ps {
			if !hasLine(m, p.instance, fmt.Sprintf(`zmqflow_actor="sink",zmqflow_direction="in"} %d`, p.handled)) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d producers' totals never reached the collector", missing)
		case <-tick.C:
		}
	}
}

// hasLine is whether some line of /metrics names instance and ends with
// suffix.
func hasLine(metrics, instance, suffix string) bool {
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "zmqflow_actor_messages_total{") && strings.Contains(l, instance) && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

func get(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("%s: %v %s", url, err, r.Status)
	}
	return string(b)
}

// checkStore checks the database against what the producers did: the
// latest total of every actor's messages exact, and no task stored twice
// or from nowhere.
func checkStore(t *testing.T, ctx context.Context, path string, ps []*producer, exactTasks bool) {
	t.Helper()
	db, err := collect.ReadStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range ps {
		rows, err := db.QueryContext(ctx, `SELECT actor, max(value) FROM samples WHERE instance=? AND metric=? AND attrs LIKE '%"in"%' GROUP BY actor`, p.instance, telemetry.MetricActorMessages)
		if err != nil {
			t.Fatal(err)
		}
		actors := 0
		for rows.Next() {
			var actor string
			var total float64
			rows.Scan(&actor, &total)
			actors++
			if int64(total) != p.handled {
				t.Errorf("%s %s: stored total %v, the producer handled %d", p.instance, actor, total, p.handled)
			}
		}
		rows.Close()
		if actors != 3 {
			t.Errorf("%s: %d actors stored, want 3", p.instance, actors)
		}
		checkTasks(t, db, p, exactTasks)
	}
}

func checkTasks(t *testing.T, db *sql.DB, p *producer, exact bool) {
	t.Helper()
	var n, distinct int64
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT task) FROM tasks WHERE instance=?`, p.instance).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n > p.sent || (exact && n != p.sent) {
		t.Errorf("%s: %d tasks stored (%d distinct), %d handed over", p.instance, n, distinct, p.sent)
	}
}

func TestCollectFromProcesses(t *testing.T) {
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "z.db")
	c := startCollector(t, ctx, "tcp://127.0.0.1:0", db)
	var ps []*producer
	for i := range 4 {
		ps = append(ps, startProducer(t, ctx, c.pull, fmt.Sprintf("p%d", i), 20, 100+i))
	}
	for _, p := range ps {
		p.wait(t, ctx)
	}
	waitTotals(t, ctx, c, ps)
	c.stop(t, ctx)
	checkStore(t, ctx, db, ps, true)
}
