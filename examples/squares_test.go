package examples_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/zmqflow/zmqflow/telemetry"
)

// squaresOut is what examples/squares printed at the end: the sum, and the
// count of each worker process ("1 pid 4000" -> 100).
type squaresOut struct {
	sum    int64
	counts map[string]int
	total  int
}

var workerLine = regexp.MustCompile(`(?m)^worker (\d+) \(pid (\d+)\): (\d+)$`)

func readSquares(t *testing.T, out string) squaresOut {
	t.Helper()
	m := regexp.MustCompile(`(?m)^sum of squares: (\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no sum in:\n%s", out)
	}
	s := squaresOut{counts: map[string]int{}}
	s.sum, _ = strconv.ParseInt(m[1], 10, 64)
	for _, w := range workerLine.FindAllStringSubmatch(out, -1) {
		c, _ := strconv.Atoi(w[3])
		s.counts[w[1]+" pid "+w[2]] = c
		s.total += c
	}
	return s
}

func sumOfSquares(n int64) int64 { return (n - 1) * n * (2*n - 1) / 6 }

// The article's program over each transport: the same actors, in
// goroutines or in processes; every number squared once.
func TestSquares(t *testing.T) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			args := []string{"-transport", tr, "-workers", "4", "-n", "10000"}
			if tr == "tcp" {
				args = append(args, "-tasks", "tcp://127.0.0.1:*", "-results", "tcp://127.0.0.1:*", "-control", "tcp://127.0.0.1:*")
			}
			p := start(t, ctx, "squares", args...)
			if code := p.exit(ctx); code != 0 {
				t.Fatalf("exit %d:\n%s", code, p.out.String())
			}
			s := readSquares(t, p.out.String())
			if s.sum != sumOfSquares(10000) || s.total != 10000 || len(s.counts) != 4 {
				t.Fatalf("sum %d (want %d), %d results by %d workers:\n%s", s.sum, sumOfSquares(10000), s.total, len(s.counts), p.out.String())
			}
		})
	}
}

// A worker process killed with SIGKILL mid-batch is started again by its
// supervisor, and the new process picks up work: the tasks the dead one took
// with it are sent again, and the run ends with every number squared once.
// The manager sends again only after 5 s without a result, when the other
// worker has done its share: by then the new process is there to take half
// (with 500 ms, a loaded machine made the other worker pause that long, and
// everything went to it before the new one started).
func TestSquaresWorkerKilled(t *testing.T) {
	ctx := testContext(t)
	p := start(t, ctx, "squares", "-transport", "ipc", "-workers", "2", "-n", "200", "-work", "20ms", "-resend", "5s")
	pid := p.await(ctx, `worker 1 started \(pid (\d+)\)`)[1]
	p.await(ctx, `all 200 tasks sent`)
	n, _ := strconv.Atoi(pid)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.await(ctx, fmt.Sprintf(`worker 1 \(pid %s\) died: signal: killed`, pid))
	again := p.await(ctx, `worker 1 started \(pid (\d+)\)\n(?s:.*)worker 1 started \(pid (\d+)\)`)[2]
	if code := p.exit(ctx); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out.String())
	}
	s := readSquares(t, p.out.String())
	if s.sum != sumOfSquares(200) || s.total != 200 {
		t.Fatalf("sum %d (want %d), %d results:\n%s", s.sum, sumOfSquares(200), s.total, p.out.String())
	}
	if s.counts["1 pid "+again] == 0 {
		t.Fatalf("the restarted worker (pid %s) did nothing:\n%s", again, p.out.String())
	}
}

// A worker started by hand, as on another machine, from the command the
// manager prints.
func TestSquaresWorkerByHand(t *testing.T) {
	ctx := testContext(t)
	m := start(t, ctx, "squares", "-role", "manager", "-transport", "tcp", "-workers", "1", "-n", "1000",
		"-tasks", "tcp://127.0.0.1:*", "-results", "tcp://127.0.0.1:*", "-control", "tcp://127.0.0.1:*")
	hint := m.await(ctx, `start workers with: squares (.*)\n`)[1]
	args := strings.Fields(strings.Replace(hint, "-id N", "-id 7", 1))
	w := start(t, ctx, "squares", args...)
	if code := m.exit(ctx); code != 0 {
		t.Fatalf("manager exit %d:\n%s", code, m.out.String())
	}
	if code := w.exit(ctx); code != 0 {
		t.Fatalf("worker exit %d (FINISH should end it):\n%s", code, w.out.String())
	}
	m.await(ctx, `(?m)^1000 numbers squared over tcp by 1 worker in `) // was "1 workers"
	s := readSquares(t, m.out.String())
	if s.sum != sumOfSquares(1000) || len(s.counts) != 1 {
		t.Fatalf("sum %d, counts %v", s.sum, s.counts)
	}
	for k := range s.counts {
		if !strings.HasPrefix(k, "7 pid ") {
			t.Fatalf("results by %q, want worker 7", k)
		}
	}
}

// Profiling toward a collector that is not there: the run says so once,
// for the manager and its worker processes together, with where the
// collector was expected and how to start one, and goes on as usual.
func TestSquaresAbsentCollectorSaidOnce(t *testing.T) {
	ctx := testContext(t)
	ep := "ipc://" + filepath.Join(t.TempDir(), "nobody") // refused: no collector binds it
	p := startEnv(t, ctx, []string{telemetry.EnvProfile + "=" + ep}, "squares", "-transport", "ipc", "-workers", "4", "-n", "1000")
	if code := p.exit(ctx); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out.String())
	}
	if s := readSquares(t, p.out.String()); s.sum != sumOfSquares(1000) || len(s.counts) != 4 {
		t.Fatalf("sum %d, %d workers:\n%s", s.sum, len(s.counts), p.out.String())
	}
	lines := regexp.MustCompile(`(?m)^zmqflow: .*$`).FindAllString(p.out.String(), -1)
	// Said at exit, or while it runs if the run took three intervals.
	want := regexp.MustCompile(`^zmqflow: profiling to ` + regexp.QuoteMeta(ep) + `: no collector there: ` +
		`the profile of this process and its child processes (was|is) not delivered.*; ` +
		`start one with: zprof collect -bind ` + regexp.QuoteMeta(ep) + ` -db profile\.db$`)
	if len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Fatalf("profiling lines %q, want one: %q\n%s", lines, want, p.out.String())
	}
}
