package examples_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// The guide's pipeline (chapter 1, "Divide and Conquer", with chapter 2's
// kill signal): examples/taskvent, taskwork and tasksink, as processes, with
// each other and with libzmq peers (testdata/*.py). Every bind is on port 0,
// so tests run side by side; the programs print the endpoints they got.

// Output the tests read. Each program prints these; so do the Python peers.
const (
	sinkEndpoints = `Collecting results on ([^\s,]+), kill signal on (\S+)`
	ventEndpoint  = `Tasks go out on ([^\s,]+)`
	ventJoined    = `Worker connected.*\(\d+ in all\)`
	expectedCost  = `Total expected cost: (\d+) msec`
	elapsedTime   = `Total elapsed time: (\d+) msec`
	byWorker      = `Results by worker: (.*)`
	workerReady   = `Worker \S+ ready`
	workerKilled  = `KILL received after (\d+) tasks?`
)

const loopback = "tcp://127.0.0.1:0"

func startSink(t *testing.T, ctx context.Context, args ...string) (p *proc, results, kill string) {
	t.Helper()
	p = start(t, ctx, "tasksink", append([]string{"-bind", loopback, "-kill", loopback}, args...)...)
	m := p.await(ctx, sinkEndpoints)
	return p, m[1], m[2]
}

func startVent(t *testing.T, ctx context.Context, sink string, args ...string) (p *proc, tasks string) {
	t.Helper()
	p = start(t, ctx, "taskvent", append([]string{"-bind", loopback, "-sink", sink}, args...)...)
	return p, p.await(ctx, ventEndpoint)[1]
}

func startWorker(t *testing.T, ctx context.Context, name, tasks, results, kill string) *proc {
	t.Helper()
	return start(t, ctx, "taskwork", "-name", name, "-vent", tasks, "-sink", results, "-kill", kill)
}

// Three workers share a batch of 100: every result arrives, each worker
// did its part, and KILL ends them. How much faster than its serial cost the
// batch went is logged, not checked: on a busy machine that is the
// machine's figure (the README shows it for an idle one).
func TestPipeline(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	sink, results, kill := startSink(t, ctx)
	vent, tasks := startVent(t, ctx, results)
	var workers []*proc
	for i := range 3 {
		w := startWorker(t, ctx, fmt.Sprint("go", i+1), tasks, results, kill)
		w.await(ctx, workerReady)
		workers = append(workers, w)
	}
	// Start the batch only once the ventilator has seen every worker: else
	// the first to connect gets it all (the slow joiner).
	vent.awaitCount(ctx, ventJoined, 3)
	vent.enter()

	cost := atoi(t, vent.await(ctx, expectedCost)[1])
	if code := vent.exit(ctx); code != 0 {
		t.Fatalf("taskvent exit code %d", code)
	}
	elapsed := atoi(t, sink.await(ctx, elapsedTime)[1])
	done := tally(t, sink.await(ctx, byWorker)[1])
	sink.await(ctx, `KILL sent to the workers subscribed: 3`)
	if code := sink.exit(ctx); code != 0 {
		t.Fatalf("tasksink exit code %d", code)
	}
	t.Logf("serial cost %d msec, elapsed %d msec (%.2f of it), results by worker %v", cost, elapsed, float64(elapsed)/float64(cost), done)

	checkSpread(t, done, 100, "go1", "go2", "go3")
	for i, w := range workers {
		n := atoi(t, w.await(ctx, workerKilled)[1])
		if name := fmt.Sprint("go", i+1); n != done[name] {
			t.Errorf("worker %s says it did %d tasks, the sink counted %d", name, n, done[name])
		}
		if code := w.exit(ctx); code != 0 {
			t.Errorf("worker %d exit code %d after KILL", i+1, code)
		}
	}
}

// Go workers between a libzmq ventilator and sink, both the guide's: the
// start of the batch is its plain "0".
func TestGoWorkersLibzmqVentAndSink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	pyzmq.Python(t)
	sink := pyzmq.Start(t, "testdata/tasksink.py", "--tasks", "40")
	m := awaitLine(t, ctx, sink, sinkEndpoints)
	results, kill := m[1], m[2]
	vent := pyzmq.Start(t, "testdata/taskvent.py", "--sink", results, "--tasks", "40")
	tasks := awaitLine(t, ctx, vent, ventEndpoint)[1]
	var workers []*proc
	for i := range 2 {
		w := startWorker(t, ctx, fmt.Sprint("go", i+1), tasks, results, kill)
		w.await(ctx, workerReady)
		workers = append(workers, w)
	}
	awaitLine(t, ctx, vent, `Worker connected \(2 in all\)`)
	if err := vent.Writeln(""); err != nil {
		t.Fatal(err)
	}

	cost := atoi(t, awaitLine(t, ctx, vent, expectedCost)[1])
	awaitLine(t, ctx, sink, `Start of batch: 40 results`)
	elapsed := atoi(t, awaitLine(t, ctx, sink, elapsedTime)[1])
	done := tally(t, awaitLine(t, ctx, sink, byWorker)[1])
	t.Logf("serial cost %d msec, elapsed %d msec, results by worker %v", cost, elapsed, done)
	checkSpread(t, done, 40, "go1", "go2")
	for i, w := range workers {
		w.await(ctx, workerKilled)
		if code := w.exit(ctx); code != 0 {
			t.Errorf("worker %d exit code %d after KILL", i+1, code)
		}
	}
}

// A libzmq worker beside a Go worker, between our ventilator and sink.
func TestLibzmqWorkerBesideGoWorker(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	pyzmq.Python(t)
	sink, results, kill := startSink(t, ctx)
	vent, tasks := startVent(t, ctx, results, "-tasks", "40")
	pyWorker := pyzmq.Start(t, "testdata/taskwork.py", "--name", "py", "--vent", tasks, "--sink", results, "--kill", kill)
	goWorker := startWorker(t, ctx, "go", tasks, results, kill)
	awaitLine(t, ctx, pyWorker, workerReady)
	goWorker.await(ctx, workerReady)
	vent.awaitCount(ctx, ventJoined, 2)
	vent.enter()

	if code := vent.exit(ctx); code != 0 {
		t.Fatalf("taskvent exit code %d", code)
	}
	sink.await(ctx, elapsedTime)
	done := tally(t, sink.await(ctx, byWorker)[1])
	if code := sink.exit(ctx); code != 0 {
		t.Fatalf("tasksink exit code %d", code)
	}
	t.Logf("results by worker %v", done)
	checkSpread(t, done, 40, "py", "go")

	if n := atoi(t, awaitLine(t, ctx, pyWorker, workerKilled)[1]); n != done["py"] {
		t.Errorf("the libzmq worker says it did %d tasks, the sink counted %d", n, done["py"])
	}
	awaitExit(t, ctx, pyWorker)
	goWorker.await(ctx, workerKilled)
	if code := goWorker.exit(ctx); code != 0 {
		t.Errorf("Go worker exit code %d after KILL", code)
	}
}

// Our sink reads the guide's start of batch, "0", as a batch of -tasks.
// The ventilator is the guide's; -tasks is not its 100, to show it is used.
func TestSinkTakesGuideStart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	pyzmq.Python(t)
	sink, results, kill := startSink(t, ctx, "-tasks", "30")
	vent := pyzmq.Start(t, "testdata/taskvent.py", "--sink", results, "--tasks", "30")
	tasks := awaitLine(t, ctx, vent, ventEndpoint)[1]
	workers := []*proc{
		startWorker(t, ctx, "go1", tasks, results, kill),
		startWorker(t, ctx, "go2", tasks, results, kill),
	}
	for _, w := range workers {
		w.await(ctx, workerReady)
	}
	awaitLine(t, ctx, vent, `Worker connected \(2 in all\)`)
	if err := vent.Writeln(""); err != nil {
		t.Fatal(err)
	}
	sink.await(ctx, `Start of batch: 30 results to collect`)
	sink.await(ctx, elapsedTime)
	checkSpread(t, tally(t, sink.await(ctx, byWorker)[1]), 30, "go1", "go2")
	if code := sink.exit(ctx); code != 0 {
		t.Fatalf("tasksink exit code %d", code)
	}
	for _, w := range workers {
		if code := w.exit(ctx); code != 0 {
			t.Errorf("%s: exit code %d after KILL", w.name, code)
		}
	}
}

// A worker dies in the middle of the batch with tasks in its queue. Nobody
// resends them: the sink, after -timeout without a result, reports what is
// missing, fails, and still sends KILL to the worker that is left. The
// -timeout is ten times a stall of a second or so, which the survivor may
// take between two results on a busy machine: the test waits it out.
func TestWorkerKilledMidBatch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	sink, results, kill := startSink(t, ctx, "-timeout", "10s")
	// -workers 2: the ventilator starts by itself once both are connected.
	vent, tasks := startVent(t, ctx, results, "-tasks", "40", "-workers", "2")
	vent.await(ctx, `Waiting for 2 workers to connect\.\.\.`) // it said nothing until the first came
	victim := startWorker(t, ctx, "victim", tasks, results, kill)
	survivor := startWorker(t, ctx, "survivor", tasks, results, kill)

	victim.await(ctx, `\.\.\.`) // three tasks done, about seventeen to go
	victim.kill()
	if code := vent.exit(ctx); code != 0 {
		t.Fatalf("taskvent exit code %d", code)
	}
	m := sink.await(ctx, `Incomplete batch: (\d+) of 40 results in \d+ msec, (\d+) missing \(none came for 10s\)`)
	got, missing := atoi(t, m[1]), atoi(t, m[2])
	done := tally(t, sink.await(ctx, byWorker)[1])
	sink.await(ctx, `KILL sent to the workers subscribed: 1`)
	if code := sink.exit(ctx); code != 1 {
		t.Errorf("tasksink exit code %d after an incomplete batch, want 1", code)
	}
	t.Logf("%d results, %d missing, by worker %v", got, missing, done)
	// The survivor did its whole share (round-robin: half); the victim's
	// last result may have died with it, still queued in its socket.
	if got+missing != 40 || done["survivor"] != 20 || done["victim"] >= 20 || done["victim"]+done["survivor"] != got {
		t.Errorf("sink counted %d results and %d missing, by worker %v", got, missing, done)
	}
	if n := atoi(t, survivor.await(ctx, workerKilled)[1]); n != done["survivor"] {
		t.Errorf("the survivor says it did %d tasks, the sink counted %d", n, done["survivor"])
	}
	if code := survivor.exit(ctx); code != 0 {
		t.Errorf("survivor exit code %d after KILL", code)
	}
}

// tally reads "w1 34, w2 33" into a map.
func tally(t *testing.T, s string) map[string]int {
	t.Helper()
	done := map[string]int{}
	for part := range strings.SplitSeq(s, ", ") {
		name, n, ok := strings.Cut(part, " ")
		if !ok {
			t.Fatalf("bad tally %q", s)
		}
		done[name] = atoi(t, n)
	}
	return done
}

// checkSpread checks that the batch of total went to exactly these workers,
// each with a share: the round-robin of a PUSH whose peers were all
// connected before the first task went out.
func checkSpread(t *testing.T, done map[string]int, total int, workers ...string) {
	t.Helper()
	sum := 0
	for _, w := range workers {
		if done[w] == 0 {
			t.Errorf("worker %s did nothing: results by worker %v", w, done)
		}
		sum += done[w]
	}
	if sum != total || len(done) != len(workers) {
		t.Errorf("results by worker %v, want %d from %v", done, total, workers)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A result that reaches the sink before the start of the batch (PULL takes
// its peers in turn, not in the order they sent) counts in the batch.
func TestSinkCountsResultsBeforeStart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	sink, results, _ := startSink(t, ctx)
	push, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(results); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"early", "2", "late"} { // one connection: they arrive in order
		if err := push.Send(ctx, socket.NewMsgString(m)); err != nil {
			t.Fatal(err)
		}
	}
	sink.await(ctx, elapsedTime) // the batch is complete
	if got := sink.await(ctx, byWorker)[1]; got != "early 1, late 1" {
		t.Fatalf("results by worker: %q", got)
	}
	if code := sink.exit(ctx); code != 0 {
		t.Fatalf("tasksink exit %d:\n%s", code, sink.out.String())
	}
}

// A worker started before its ventilator says once that it waits for it,
// naming it and not the sink, which is there; then that it is ready once
// the ventilator comes.
func TestWorkerSaysItWaits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, sinkEP := testSocket(t, socket.Pull, "tcp://127.0.0.1:*")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ventEP := "tcp://" + l.Addr().String()
	l.Close() // the ventilator binds it later
	w := start(t, ctx, "taskwork", "-name", "w", "-vent", ventEP, "-sink", sinkEP, "-kill", "")
	w.await(ctx, `(?m)^Worker w waiting for the ventilator at `+regexp.QuoteMeta(ventEP)+`\.\.\.$`)
	tasks, _ := testSocket(t, socket.Push, "")
	if _, err := tasks.Bind(ventEP); err != nil {
		t.Fatal(err)
	}
	w.await(ctx, `(?m)^Worker w ready: connected to the ventilator and the sink$`)
	if n := strings.Count(w.out.String(), "waiting for"); n != 1 {
		t.Errorf("said %d times that it waits, want once:\n%s", n, w.out.String())
	}
	w.cmd.Process.Signal(os.Interrupt)
	if code := w.exit(ctx); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// A workload near the integer maximum, which overflowed the sleep into
// none at all, is refused as bad input, and the next task is done.
func TestWorkerRefusesHugeWorkload(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	results, sinkEP := testSocket(t, socket.Pull, "tcp://127.0.0.1:*")
	tasks, ventEP := testSocket(t, socket.Push, "tcp://127.0.0.1:*")
	w := start(t, ctx, "taskwork", "-name", "w", "-vent", ventEP, "-sink", sinkEP, "-kill", "")
	w.await(ctx, workerReady)
	for _, task := range []string{strconv.Itoa(math.MaxInt), "1"} {
		if err := tasks.Send(ctx, socket.NewMsgString(task)); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := results.Recv(ctx); err != nil || string(m[0]) != "w" {
		t.Fatalf("result %q, %v", m, err)
	}
	w.cmd.Process.Signal(os.Interrupt)
	if m := w.await(ctx, `interrupted after (\d+) (tasks?)\n`); m[1] != "1" || m[2] != "task" {
		t.Errorf("said %q, want 1 task (the huge one refused)", m[0])
	}
	if code := w.exit(ctx); code != 0 {
		t.Errorf("exit code %d", code)
	}
	want := "taskwork: ignoring a task of " + strconv.Itoa(math.MaxInt) + " ms: bad input, the most a task may sleep is 24h0m0s\n"
	if !strings.Contains(w.out.String(), want) {
		t.Errorf("no line %q in:\n%s", want, w.out.String())
	}
}
