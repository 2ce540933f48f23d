package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The command lines given to SLURM, and the reading of its answers.
func TestSlurmCommandLines(t *testing.T) {
	script := workerScript("/opt/my tools/gridsearch", "tcp://login1:5555", "/home/a/it's_secret")
	want := `exec '/opt/my tools/gridsearch' worker -connect tcp://login1:5555 -slots "${SLURM_CPUS_PER_TASK:-1}" -idle 2m0s -key '/home/a/it'\''s_secret'`
	if script != want {
		t.Errorf("script:\n got %s\nwant %s", script, want)
	}
	// The script as sh reads it: each quoted word comes back whole.
	out, err := exec.Command("sh", "-c", `set -- `+strings.TrimPrefix(script, "exec ")+`; printf '%s\n' "$@"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); got[0] != "/opt/my tools/gridsearch" || got[len(got)-1] != "/home/a/it's_secret" || got[5] != "1" {
		t.Errorf("sh reads the script as %q", got)
	}
	args := sbatchArgs(3, []string{"--partition=cpu", "--job-name=mine"}, "exec x")
	if w := []string{"--parsable", "--job-name=gridsearch", "--array=0-2", "--partition=cpu", "--job-name=mine", "--wrap=exec x"}; !reflect.DeepEqual(args, w) {
		t.Errorf("sbatch args %q, want %q", args, w)
	}
	if got := squeueArgs("42"); strings.Join(got, " ") != "-h -r -t all -j 42 -o %i|%T|%r" {
		t.Errorf("squeue args %q", got)
	}
	if got := connectTo("tcp://0.0.0.0:5555"); !strings.HasSuffix(got, ":5555") || strings.Contains(got, "0.0.0.0") {
		t.Errorf("connectTo wildcard: %s", got)
	}
	if got := connectTo("tcp://10.0.0.1:5555"); got != "tcp://10.0.0.1:5555" {
		t.Errorf("connectTo: %s", got)
	}
}

func TestParseSbatch(t *testing.T) {
	for _, tc := range []struct{ out, id string }{
		{"123\n", "123"},
		{"123;cluster1\n", "123"},
		{"note: job will run in partition debug\n987\n", "987"},
		{"", ""},
		{"Submitted batch job 12\n", ""},
		{"12x\n", ""},
		{"123456789012345678901234\n", ""},
	} {
		id, err := parseSbatch([]byte(tc.out))
		if id != tc.id || (tc.id == "") != (err != nil) || err != nil && !errors.Is(err, errSlurm) {
			t.Errorf("parseSbatch(%q) = %q, %v; want %q", tc.out, id, err, tc.id)
		}
	}
}

func TestParseSqueue(t *testing.T) {
	out := "42_0|RUNNING|None\n42_1|PENDING|ReqNodeNotAvail, UnavailableNodes:n1|n2\ngarbage\n|PENDING|x\n\n42_2|CANCELLED|None"
	want := []slurmTask{{"42_0", "RUNNING", "None"}, {"42_1", "PENDING", "ReqNodeNotAvail, UnavailableNodes:n1|n2"}, {"42_2", "CANCELLED", "None"}}
	if got := parseSqueue([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("parseSqueue: %q, want %q", got, want)
	}
}

// Each change is said once: a pending task's reason, an ended task, a
// failing squeue, and an array with no task left.
func TestSlurmWatch(t *testing.T) {
	var said []string
	w := &watch{id: "42", say: func(s string) { said = append(said, s) }, seen: map[string]string{}}
	polls := []struct {
		out string
		err error
	}{
		{"42_0|PENDING|None\n42_1|PENDING|None\n", nil},
		{"42_0|PENDING|Priority\n42_1|PENDING|Priority\n", nil},
		{"42_0|PENDING|Resources\n42_1|PENDING|Priority\n", nil},
		{"42_0|RUNNING|None\n42_1|PENDING|Priority\n", nil},
		{"", errors.New("squeue: no answer")},
		{"", errors.New("squeue: no answer")},
		{"42_0|PREEMPTED|None\n42_1|RUNNING|None\n", nil},
		{"42_0|PREEMPTED|None\n42_1|FAILED|NonZeroExitCode\n", nil},
		{"42_0|PREEMPTED|None\n42_1|FAILED|NonZeroExitCode\n", nil},
	}
	for _, p := range polls {
		w.update(parseSqueue([]byte(p.out)), p.err)
	}
	want := []string{
		"gridsearch: slurm job 42_0 pending: (Priority)",
		"gridsearch: slurm job 42_1 pending: (Priority)",
		"gridsearch: slurm job 42_0 pending: (Resources)",
		"gridsearch: slurm job 42: squeue: no answer",
		"gridsearch: slurm job 42_0 preempted",
		"gridsearch: slurm job 42_1 failed",
		"gridsearch: slurm job 42 has no task left: no worker will come from SLURM (their output: slurm-42_*.out)",
	}
	if !reflect.DeepEqual(said, want) {
		t.Errorf("said:\n%s\nwant:\n%s", strings.Join(said, "\n"), strings.Join(want, "\n"))
	}
}

// fakeSlurm writes a FAKE sbatch, squeue and scancel into a new
// directory, for tests of the command lines without a cluster: sbatch
// records its arguments and answers job 4242, squeue shows task 1 pending
// for Resources, scancel records its arguments. It returns the directory.
func fakeSlurm(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	fakes := map[string]string{
		"sbatch":  "#!/bin/sh\n# FAKE sbatch for the gridsearch tests\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/sbatch.args\"\necho '4242;testcluster'\n",
		"squeue":  "#!/bin/sh\n# FAKE squeue for the gridsearch tests\necho '4242_0|RUNNING|None'\necho '4242_1|PENDING|Resources'\necho 'not a task line'\n",
		"scancel": "#!/bin/sh\n# FAKE scancel for the gridsearch tests\nprintf '%s\\n' \"$@\" >> \"$(dirname \"$0\")/scancel.args\"\n",
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// -slurm against a FAKE SLURM (fakeSlurm): the array is submitted with
// the worker's command line, the pending task is reported with squeue's
// reason, and the array is cancelled at the end. A local slot runs the
// points, as no real worker comes.
func TestSlurmFakeCommands(t *testing.T) {
	ctx := testContext(t)
	dir, fake := t.TempDir(), fakeSlurm(t)
	key := keygen(t, dir, "cluster")
	out := filepath.Join(dir, "r.jsonl")
	env := "PATH=" + fake + string(os.PathListSeparator) + os.Getenv("PATH")
	master := startCmd(t, ctx, dir, "env", append([]string{env, binary, "run", "-slurm", "2", "-slurm-poll", "1s",
		"-slurm-args", "--partition=cpu  --time=10", "-workers", "1", "-key", "cluster_secret",
		"-out", out, "-progress", "none", "-param", "i=1..6"}, gatedSquare(dir, 2)...)...)
	master.expect(t, ctx, `^gridsearch: submitted slurm job 4242, 2 worker tasks: exec `)
	master.expect(t, ctx, `^gridsearch: slurm job 4242_1 pending: \(Resources\)$`)
	release(t, dir)
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %q", code, master.stderr)
	}
	checkSquares(t, readResults(t, out), 6)
	if last := master.stderr[len(master.stderr)-1]; last != "gridsearch: slurm job 4242 cancelled (the run is over)" {
		t.Errorf("last stderr line %q", last)
	}
	b, _ := os.ReadFile(filepath.Join(fake, "scancel.args"))
	if string(b) != "4242\n" {
		t.Errorf("scancel args %q, want 4242 once", b)
	}
	b, _ = os.ReadFile(filepath.Join(fake, "sbatch.args"))
	args := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	wrap := "--wrap=exec " + binary + " worker -connect tcp://"
	if len(args) != 6 || strings.Join(args[:5], " ") != "--parsable --job-name=gridsearch --array=0-1 --partition=cpu --time=10" ||
		!strings.HasPrefix(args[5], wrap) || !strings.HasSuffix(args[5], " -key "+key) {
		t.Errorf("sbatch args %q; want ours, the -slurm-args, and %s...-key %s", args, wrap, key)
	}

	// Ctrl-C cancels the array too.
	master = startCmd(t, ctx, dir, "env", append([]string{env, binary, "run", "-slurm", "1", "-workers", "1",
		"-out", filepath.Join(dir, "i.jsonl"), "-progress", "none", "-param", "i=1..6"}, gatedSquare(t.TempDir(), 0)...)...)
	master.expect(t, ctx, `^gridsearch: submitted slurm job 4242, 1 worker task: `)
	master.cmd.Process.Signal(os.Interrupt)
	if code := master.wait(); code != 130 {
		t.Errorf("interrupted master: exit %d: %q", code, master.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(fake, "scancel.args")); string(b) != "4242\n4242\n" {
		t.Errorf("scancel args after Ctrl-C %q, want 4242 twice in all", b)
	}
}

// -slurm where SLURM's commands are missing, or with bad values: one line,
// exit status 2.
func TestSlurmUsage(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"PATH=" + dir, []string{"-slurm", "2"}, "-slurm: sbatch not found in PATH"},
		{"PATH=" + os.Getenv("PATH"), []string{"-slurm", "-1"}, "-slurm -1"},
		{"PATH=" + os.Getenv("PATH"), []string{"-slurm-args", "--time=1"}, "need -slurm N"},
	} {
		p := startCmd(t, ctx, dir, "env", append(append([]string{tc.env, binary, "run"}, tc.args...), "-param", "i=1,2", "--", "/bin/true")...)
		if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, p.stderr, tc.want)
		}
	}
}
