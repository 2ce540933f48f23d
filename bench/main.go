// Command bench compares zmqflow's sockets with libzmq (through cgo) and with
// go-zeromq/zmq4's own socket types: PUSH->PULL throughput and REQ<->REP round
// trip latency over inproc, ipc and tcp, the cost of heartbeats, the
// memory an idle tcp peer takes, and request-reply through a broker
// (package broker's load balancer and Majordomo beside the guide's loops).
// Every measurement runs in child processes (this program again, with a
// hidden subcommand): sender and receiver in separate processes for ipc and
// tcp, one process for inproc, so that a crash or a hang of one
// implementation is reported, bounded in time, and does not stop the others.
//
//	go run . [-duration 2s] [-runs 5] [-only tcp,reqrep] [-impls ours,libzmq,zmq4]
//	go run . -only lb,mdp [-workers 4] [-clients 8] [-requests 20000]
//
// See README.md.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == peerCmd {
		os.Exit(peerMain(os.Args[2:]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

// benchCase is one line of the table.
type benchCase struct {
	pattern   string // "pushpull", "pushpull-hb" (heartbeats on), "pushpull-curve" (CURVE), "reqrep", "idle", "tell", "lb" or "mdp"
	transport string // "inproc", "ipc" or "tcp"
	size      int    // message size; for "idle", the number of peers
}

func (c benchCase) name() string {
	return fmt.Sprintf("%s/%s/%s", c.pattern, c.transport, c.sizeName())
}

func (c benchCase) sizeName() string {
	if c.pattern == "idle" {
		return fmt.Sprint(c.size)
	}
	return sizeName(c.size)
}

func (c benchCase) title() string {
	switch c.pattern {
	case "reqrep":
		return fmt.Sprintf("REQ<->REP %s %s (µs)", c.transport, c.sizeName())
	case "pushpull-hb":
		return fmt.Sprintf("PUSH->PULL %s %s, heartbeats (msg/s)", c.transport, c.sizeName())
	case "pushpull-curve":
		return fmt.Sprintf("PUSH->PULL %s %s, CURVE (msg/s)", c.transport, c.sizeName())
	case "idle":
		return fmt.Sprintf("%d idle %s peers: ROUTER process (KB per peer)", c.size, c.transport)
	case "tell":
		return fmt.Sprintf("actor remote Tell %s, 12-byte struct (msg/s)", c.transport)
	case "lb":
		return fmt.Sprintf("load balancer %s %s: throughput (req/s)", c.transport, c.sizeName())
	case "mdp":
		return fmt.Sprintf("Majordomo %s %s: throughput (req/s)", c.transport, c.sizeName())
	}
	return fmt.Sprintf("PUSH->PULL %s %s (msg/s)", c.transport, c.sizeName())
}

// lowerIsBetter: latency and memory, as opposed to throughput.
func (c benchCase) lowerIsBetter() bool { return c.pattern == "reqrep" || c.pattern == "idle" }

// broker: a case of request-reply through a broker (brokers.go).
func (c benchCase) broker() bool { return c.pattern == "lb" || c.pattern == "mdp" }

// row is one line of the main table: a figure of a case's runs.
type row struct {
	title  string
	f      figure
	lower  bool // lower is better
	format func(float64) string
}

func (c benchCase) rows() []row {
	format := func(v float64) string { return formatValue(c, v) }
	switch {
	case c.pattern == "idle":
		return []row{{c.title(), value, true, format},
			{fmt.Sprintf("%d idle %s peers: DEALERs' process (KB per peer)", c.size, c.transport), side, true, format}}
	case c.broker():
		lat := func(v float64) string { return fmt.Sprintf("%.0f µs", v) }
		prefix := c.title()[:strings.Index(c.title(), ":")]
		return []row{{c.title(), value, false, format},
			{prefix + ": latency p50 (µs)", p50, true, lat},
			{prefix + ": latency p99 (µs)", p99, true, lat}}
	}
	return []row{{c.title(), value, c.lowerIsBetter(), format}}
}

// runs says whether an implementation takes part in a case. The idle case is
// written for ours and pebbe/zmq4 only; zmq4's sockets have no heartbeats.
func (c benchCase) runs(im impl) bool {
	if im.actorsOnly {
		return c.pattern == "tell"
	}
	switch im.name { // the broker cases' own implementations
	case "raw", "ours-req":
		return c.pattern == "lb"
	case "python":
		return c.pattern == "mdp"
	}
	switch c.pattern {
	case "lb":
		return im.name == "ours" || im.name == "libzmq-c"
	case "mdp":
		return im.name == "ours"
	}
	if im.name == "actors" { // patterns over our sockets: PUSH->PULL between processes
		return c.pattern == "pushpull" && c.transport != "inproc"
	}
	switch c.pattern {
	case "tell":
		return im.name == "ours"
	case "idle":
		return im.name == "ours" || im.name == "libzmq"
	case "pushpull-hb":
		return im.name != "zmq4"
	case "pushpull-curve":
		return im.name == "ours" || im.name == "libzmq-c" || im.name == "libzmq"
	}
	return true
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func allCases() []benchCase {
	var cs []benchCase
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		for _, sz := range []int{16, 1024} {
			cs = append(cs, benchCase{"pushpull", tr, sz})
		}
	}
	// Beside pushpull/tcp/16B, which the table divides it by.
	cs = append(cs, benchCase{"pushpull-hb", "tcp", 16})
	// CURVE: every frame encrypted and authenticated (curve.go).
	cs = append(cs, benchCase{"pushpull-curve", "tcp", 16}, benchCase{"pushpull-curve", "tcp", 1024})
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		cs = append(cs, benchCase{"reqrep", tr, 16})
	}
	cs = append(cs, benchCase{"idle", "tcp", 1000})
	// Side by side: the table divides the second by the first.
	cs = append(cs, benchCase{"lb", "tcp", 16}, benchCase{"mdp", "tcp", 16})
	return append(cs, benchCase{"tell", "tcp", 12})
}

type config struct {
	duration   time.Duration
	runs       int
	count      uint64
	timeout    time.Duration
	cpuprofile string
	verbose    bool
	// The broker cases.
	workers, clients, requests int
	mdpBrokerPy                string
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg config
	var only, implList string
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "how long each run sends (throughput) or makes round trips (latency)")
	fs.IntVar(&cfg.runs, "runs", 5, "runs of each measurement; the table shows the median")
	fs.Uint64Var(&cfg.count, "count", 0, "send exactly this many messages (round trips) per run instead of for -duration")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "kill a run's processes after this long and report \"hung\" (default 3 x duration + 20s)")
	fs.StringVar(&only, "only", "", "comma-separated words; run the cases whose name (e.g. pushpull/tcp/16B) contains any of them")
	fs.StringVar(&implList, "impls", "ours,libzmq-c,libzmq,zmq4,raw,ours-req,python", "implementations to run, comma-separated: ours, libzmq-c, libzmq, zmq4; raw (the guide's lbbroker on our sockets), ours-req (our load balancer with raw's REQ workers and clients) and python (the guide's mdbroker) for the broker cases; and the actor frameworks protoactor and hollywood (remote Tell case only)")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of every peer process into this directory")
	fs.BoolVar(&cfg.verbose, "v", false, "print the stderr of failed runs")
	fs.IntVar(&cfg.workers, "workers", defaultWorkers, "broker cases: workers, all in one process")
	fs.IntVar(&cfg.clients, "clients", defaultClients, "broker cases: clients, each one request at a time, all in one process")
	fs.IntVar(&cfg.requests, "requests", defaultRequests, "broker cases: requests in all, per run")
	fs.StringVar(&cfg.mdpBrokerPy, "mdpbroker-py", defaultMDPBrokerPy, "broker cases: the python Majordomo broker (impl python)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.runs < 1 {
		fmt.Fprintln(os.Stderr, "-runs must be at least 1")
		return 2
	}
	if cfg.workers < 1 || cfg.clients < 1 || cfg.requests < 1 {
		fmt.Fprintln(os.Stderr, "-workers, -clients and -requests must be at least 1")
		return 2
	}
	if cfg.timeout == 0 {
		cfg.timeout = 3*cfg.duration + 20*time.Second
	}
	var ims []impl
	for _, n := range strings.Split(implList, ",") {
		im, ok := findImpl(strings.TrimSpace(n))
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown implementation %q (ours, libzmq-c, libzmq, zmq4, raw, python, actors, protoactor, hollywood)\n", n)
			return 2
		}
		ims = append(ims, im)
	}
	var cases []benchCase
	for _, c := range allCases() {
		if only == "" || slices.ContainsFunc(strings.Split(only, ","), func(w string) bool {
			return w != "" && strings.Contains(c.name(), w)
		}) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		fmt.Fprintf(os.Stderr, "-only %q matches no case\n", only)
		return 2
	}
	// No column for an implementation that takes part in none of the cases.
	ims = slices.DeleteFunc(ims, func(im impl) bool {
		return !slices.ContainsFunc(cases, func(c benchCase) bool { return c.runs(im) })
	})
	if cfg.cpuprofile != "" {
		if err := os.MkdirAll(cfg.cpuprofile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i, im := range ims {
		if !im.actorsOnly {
			continue
		}
		dir, err := os.MkdirTemp("", "zmqflow-bench-peers-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if ims[i].peer, err = buildPeer(im.name, dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	fmt.Fprintf(os.Stderr, "%d runs of %v each (timeout %v), medians below\n", cfg.runs, cfg.duration, cfg.timeout)
	results := make(map[string][]outcome) // case name + "|" + impl name
	// Run r of every case before run r+1 of any: a case and the one it is
	// compared with (heartbeats on and off) then meet the same load.
	for r := 0; r < cfg.runs; r++ {
		for _, c := range cases {
			// Side by side in the same run; the order rotates so that no
			// implementation always goes first.
			line := fmt.Sprintf("%-22s run %d:", c.name(), r+1)
			for i := range ims {
				im := ims[(i+r)%len(ims)]
				if !c.runs(im) {
					continue
				}
				o := runOnce(self, cfg, c, im, r)
				results[key(c, im)] = append(results[key(c, im)], o)
				line += fmt.Sprintf("  %s %s", im.name, o.format(c))
				if o.status != "" && cfg.verbose {
					fmt.Fprintf(os.Stderr, "--- %s %s run %d: %s\n%s\n", c.name(), im.name, r+1, o.status, o.detail)
				}
				if o.notes != "" {
					fmt.Fprintf(os.Stderr, "--- %s %s run %d:\n%s", c.name(), im.name, r+1, o.notes)
				}
			}
			fmt.Fprintln(os.Stderr, line)
		}
	}
	printTable(os.Stdout, cfg, cases, ims, results)
	return 0
}

// outcome of one run: a value (msg/s, µs per round trip or KB per peer) or
// a status.
type outcome struct {
	value  float64
	side   float64 // the idle case: the DEALERs' process, KB per peer (value: the ROUTER's)
	p50    float64 // the broker cases: round-trip latency percentiles, µs (value: req/s)
	p99    float64
	cpuNs  float64 // CPU time of all the run's processes per message, ns
	status string  // "" (ok), "hung", "crashes" or "error"
	detail string  // stderr of the processes, for -v
	notes  string  // the broker cases: what the processes noted (resends, requeues) in a good run
}

func (o outcome) format(c benchCase) string {
	if o.status != "" {
		return o.status
	}
	if c.pattern == "idle" {
		return fmt.Sprintf("ROUTER %s DEALERs %s", formatValue(c, o.value), formatValue(c, o.side))
	}
	if c.broker() {
		return fmt.Sprintf("%s req/s p50 %.0f µs p99 %.0f µs", formatValue(c, o.value), o.p50, o.p99)
	}
	return formatValue(c, o.value)
}

func formatValue(c benchCase, v float64) string {
	switch c.pattern {
	case "reqrep":
		return fmt.Sprintf("%.1f µs", v)
	case "idle":
		return fmt.Sprintf("%.1f KB", v)
	case "lb", "mdp":
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	default:
		return fmt.Sprintf("%.3f M", v/1e6)
	}
}

// child is one peer process.
type child struct {
	cmd    *exec.Cmd
	lines  chan string // its stdout, line by line; closed at EOF
	stderr *limitedBuffer
	done   chan struct{} // closed when it has exited
	err    error         // its exit, once done
	stdin  io.WriteCloser
}

func startChild(self string, args []string, hold bool) (*child, error) {
	ch := &child{
		cmd:    exec.Command(self, append([]string{peerCmd}, args...)...),
		lines:  make(chan string, 16),
		stderr: &limitedBuffer{max: 16 << 10},
		done:   make(chan struct{}),
	}
	ch.cmd.Stderr = ch.stderr
	out, err := ch.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if hold {
		// The child keeps its socket open until this pipe is closed.
		if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := ch.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
		close(ch.lines)
		ch.err = ch.cmd.Wait()
		close(ch.done)
	}()
	return ch, nil
}

// tell writes a line to a child that holds its socket open.
func (ch *child) tell(line string) error {
	_, err := fmt.Fprintln(ch.stdin, line)
	return err
}

// release lets a child that holds its socket open close it.
func (ch *child) release() {
	if ch.stdin != nil {
		ch.stdin.Close()
	}
}

// kill ends the child process if it still runs.
func (ch *child) kill() {
	select {
	case <-ch.done:
	default:
		ch.cmd.Process.Kill()
	}
}

// waitLine returns the rest of the first line from the child that starts
// with prefix, or false if the child ended or the deadline passed first.
func (ch *child) waitLine(prefix string, deadline <-chan time.Time) (string, bool) {
	for {
		select {
		case l, ok := <-ch.lines:
			if !ok {
				return "", false
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return rest, true
			}
		case <-deadline:
			return "", false
		}
	}
}

// runOnce runs one measurement in child processes: the binding side first,
// which announces its endpoint, then the connecting side. Every process is
// killed when the timeout passes.
func runOnce(self string, cfg config, c benchCase, im impl, run int) outcome {
	common := []string{"-impl", im.name, "-size", fmt.Sprint(c.size),
		"-duration", cfg.duration.String(), "-count", fmt.Sprint(cfg.count)}
	if c.pattern == "pushpull-hb" {
		common = append(common, "-hb")
	}
	if c.pattern == "pushpull-curve" {
		common = append(common, "-curve")
	}
	if c.broker() {
		common = append(common, "-workers", fmt.Sprint(cfg.workers), "-clients", fmt.Sprint(cfg.clients),
			"-requests", fmt.Sprint(cfg.requests), "-mdpbroker-py", cfg.mdpBrokerPy)
	}
	prof := func(role string) []string {
		if cfg.cpuprofile == "" {
			return nil
		}
		name := fmt.Sprintf("%s-%s-%s-%s-run%d.pprof", im.name, c.pattern, c.transport, c.sizeName(), run+1)
		if c.transport != "inproc" {
			name = fmt.Sprintf("%s-%s-%s-%s-%s-run%d.pprof", im.name, c.pattern, c.transport, c.sizeName(), role, run+1)
		}
		return []string{"-cpuprofile", filepath.Join(cfg.cpuprofile, name)}
	}
	timer := time.NewTimer(cfg.timeout)
	defer timer.Stop()

	var children []*child
	defer func() {
		for _, ch := range children {
			ch.kill()
			<-ch.done
		}
	}()
	start := func(hold bool, args ...string) (*child, error) {
		if hold {
			args = append(args, "-hold")
		}
		exe := self
		if im.peer != "" {
			exe = im.peer // another framework's peer command
		}
		ch, err := startChild(exe, append(args, common...), hold)
		if err == nil {
			children = append(children, ch)
		}
		return ch, err
	}
	// exited waits for a child to end by itself, within the timeout.
	exited := func(ch *child) bool {
		select {
		case <-ch.done:
			return ch.err == nil
		case <-timer.C:
			return false
		}
	}

	var r result
	getResult := func(ch *child) bool {
		line, ok := ch.waitLine("RESULT ", timer.C)
		if !ok {
			return false
		}
		err := json.Unmarshal([]byte(line), &r)
		return err == nil && r.Msgs > 0 && r.Seconds > 0
	}

	pattern := strings.TrimSuffix(strings.TrimSuffix(c.pattern, "-hb"), "-curve") // heartbeats and CURVE change no role
	switch {
	case c.broker():
		// The broker first; its workers once it has bound; the clients,
		// which measure, once it has them all registered. The broker and
		// the workers run until the clients are done.
		brk, err := start(true, append([]string{"-role", pattern + "-broker", "-ep", "tcp://127.0.0.1:*"}, prof("broker")...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		got, ok := brk.waitLine("READY ", timer.C)
		eps := strings.Fields(got) // frontend, backend (Majordomo: one endpoint)
		if !ok || len(eps) == 0 {
			return failure(timer, children)
		}
		workers, err := start(true, append([]string{"-role", pattern + "-workers", "-ep", eps[len(eps)-1]}, prof("workers")...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		for n := 0; n < cfg.workers; { // the python broker says each change
			got, ok := brk.waitLine("WORKERS ", timer.C)
			if !ok {
				return failure(timer, children)
			}
			fmt.Sscan(got, &n)
		}
		go func() { // nothing more is read from the broker
			for range brk.lines {
			}
		}()
		clients, err := start(false, append([]string{"-role", pattern + "-clients", "-ep", eps[0]}, prof("clients")...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		if !getResult(clients) || !exited(clients) {
			return failure(timer, children)
		}
		workers.release()
		if !exited(workers) {
			return failure(timer, children)
		}
		brk.release()
		if !exited(brk) {
			return failure(timer, children)
		}
	case pattern == "idle":
		// Both processes keep their sockets open until both have reported.
		router, err := start(true, append([]string{"-role", "router", "-ep", "tcp://127.0.0.1:*"}, prof("router")...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		got, ok := router.waitLine("READY ", timer.C)
		if !ok {
			return failure(timer, children)
		}
		dealers, err := start(true, append([]string{"-role", "dealers", "-ep", got}, prof("dealers")...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		if !getResult(router) {
			return failure(timer, children)
		}
		routerR := r
		// The ROUTER has heard from every peer and idled for a second:
		// the DEALERs' process measures now.
		if dealers.tell("measure") != nil || !getResult(dealers) {
			return failure(timer, children)
		}
		dealers.release()
		router.release()
		if !exited(dealers) || !exited(router) {
			return failure(timer, children)
		}
		perPeer := func(r result) float64 { return float64(r.RSSAfterKB-r.RSSBeforeKB) / float64(r.Msgs) }
		return outcome{value: perPeer(routerR), side: perPeer(r)}
	case c.transport == "inproc":
		role := pattern // "pushpull" or "reqrep": both sides in one process
		ch, err := start(false, append([]string{"-role", role, "-ep", "inproc://bench"}, prof(role)...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		if !getResult(ch) || !exited(ch) {
			return failure(timer, children)
		}
	default:
		bindRole, connRole := "pull", "push"
		switch pattern {
		case "reqrep":
			bindRole, connRole = "rep", "req"
		case "tell":
			bindRole, connRole = "tell-recv", "tell-send"
		}
		ep := "tcp://127.0.0.1:*"
		if c.transport == "ipc" {
			dir, err := os.MkdirTemp("", "zmqflow-bench-")
			if err != nil {
				return outcome{status: "error", detail: err.Error()}
			}
			defer os.RemoveAll(dir)
			ep = "ipc://" + filepath.Join(dir, "s")
		}
		binder, err := start(false, append([]string{"-role", bindRole, "-ep", ep}, prof(bindRole)...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		got, ok := binder.waitLine("READY ", timer.C)
		if !ok {
			return failure(timer, children)
		}
		// The connecting side (PUSH, REQ) keeps its socket open until the
		// binding side (PULL, REP) has got everything and exited.
		conn, err := start(true, append([]string{"-role", connRole, "-ep", got}, prof(connRole)...)...)
		if err != nil {
			return outcome{status: "error", detail: err.Error()}
		}
		measuring := binder
		if pattern == "reqrep" {
			measuring = conn
		}
		if !getResult(measuring) || !exited(binder) {
			return failure(timer, children)
		}
		conn.release()
		if !exited(conn) {
			return failure(timer, children)
		}
	}
	// CPU time of every process of the run (start-up and handshake
	// included, a few ms), per message or round trip: how much work each
	// costs, which a busy machine disturbs less than it does the rates.
	var cpu time.Duration
	for _, ch := range children {
		cpu += ch.cmd.ProcessState.UserTime() + ch.cmd.ProcessState.SystemTime()
	}
	cpuPer := cpu.Seconds() / float64(r.Msgs) * 1e9
	if pattern == "reqrep" {
		return outcome{value: r.Seconds / float64(r.Msgs) * 1e6, cpuNs: cpuPer}
	}
	if c.broker() {
		var notes strings.Builder
		for _, ch := range children {
			for l := range strings.Lines(ch.stderr.String()) {
				if strings.HasPrefix(l, "note: ") {
					notes.WriteString(l)
				}
			}
		}
		return outcome{value: float64(r.Msgs) / r.Seconds, p50: r.P50Us, p99: r.P99Us, cpuNs: cpuPer, notes: notes.String()}
	}
	return outcome{value: float64(r.Msgs) / r.Seconds, cpuNs: cpuPer}
}

// failure says why a run did not produce a result: a process died of a
// panic or a signal ("crashes"), the timeout passed ("hung"), or anything
// else ("error").
func failure(timer *time.Timer, children []*child) outcome {
	// Give processes that are on their way out a moment to exit, then kill.
	grace := time.After(2 * time.Second)
	for _, ch := range children {
		select {
		case <-ch.done:
		case <-grace:
		case <-timer.C:
		}
	}
	var detail strings.Builder
	crashed, hung := false, false
	for i, ch := range children {
		exited := false
		select {
		case <-ch.done:
			exited = true
		default:
			hung = true
			ch.kill()
			<-ch.done
		}
		se := ch.stderr.String()
		fmt.Fprintf(&detail, "process %d: %v\n%s", i+1, ch.err, se)
		if exited && ch.err != nil && (strings.Contains(se, "panic:") || strings.Contains(se, "fatal error:") ||
			strings.Contains(se, "SIGSEGV") || strings.Contains(ch.err.Error(), "signal")) {
			crashed = true
		}
	}
	switch {
	case crashed:
		return outcome{status: "crashes", detail: detail.String()}
	case hung:
		return outcome{status: "hung", detail: detail.String()}
	}
	return outcome{status: "error", detail: detail.String()}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// figure picks one number out of a run's outcome.
type figure func(outcome) float64

func value(o outcome) float64 { return o.value }
func side(o outcome) float64  { return o.side }
func cpu(o outcome) float64   { return o.cpuNs }
func p50(o outcome) float64   { return o.p50 }
func p99(o outcome) float64   { return o.p99 }

// medianOf is the median of a figure over the successful runs.
func medianOf(os []outcome, f figure) (float64, bool) {
	var xs []float64
	for _, o := range os {
		if o.status == "" {
			xs = append(xs, f(o))
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// cell is the median of the successful runs; a status if none succeeded;
// failures are noted beside a median.
func cell(os []outcome, f figure, format func(float64) string) (string, float64, bool) {
	fails := map[string]int{}
	for _, o := range os {
		if o.status != "" {
			fails[o.status]++
		}
	}
	m, ok := medianOf(os, f)
	s := "-"
	if ok {
		s = format(m)
	}
	for _, st := range []string{"crashes", "hung", "error"} {
		switch {
		case fails[st] == 0:
		case !ok:
			return st, 0, false
		default:
			s += fmt.Sprintf(" (%s %d/%d)", st, fails[st], len(os))
		}
	}
	return s, m, ok
}

func key(c benchCase, im impl) string { return c.name() + "|" + im.name }

func printTable(w io.Writer, cfg config, cases []benchCase, ims []impl, results map[string][]outcome) {
	fmt.Fprintf(w, "\nMedians of %d runs of %v. Throughput in msg/s (M = million), latency in µs per round trip, memory in KB per idle peer.\n", cfg.runs, cfg.duration)
	fmt.Fprintln(w, "Ratios: ours / the other for throughput, the other / ours for latency and memory: above 1, ours is faster or smaller.")
	if slices.ContainsFunc(cases, benchCase.broker) {
		fmt.Fprintf(w, "Broker cases: %d workers and %d clients (each one request at a time), %d requests per run, in k req/s; latency per request, µs.\n",
			cfg.workers, cfg.clients, cfg.requests)
	}
	fmt.Fprintln(w)
	header := "| case |"
	sep := "|---|"
	for _, im := range ims {
		header += " " + im.label + " |"
		sep += "---|"
	}
	var against []impl // the columns ours is compared with: libzmq, the guide's brokers, the actor frameworks
	if _, hasOurs := indexImpl(ims, "ours"); hasOurs {
		for _, name := range []string{"raw", "libzmq-c", "libzmq", "actors", "protoactor", "hollywood", "python"} {
			if i, ok := indexImpl(ims, name); ok {
				against = append(against, ims[i])
				header += " ours/" + name + " |"
				sep += "---|"
			}
		}
	}
	// ratios are the ours/libzmq columns of a row; vals has the medians
	// that there are, by implementation.
	ratios := func(vals map[string]float64, lowerIsBetter bool) string {
		s := ""
		for _, im := range against {
			o, okO := vals["ours"]
			x, okX := vals[im.name]
			switch {
			case !okO || !okX:
				s += " - |"
			case lowerIsBetter:
				s += fmt.Sprintf(" %.2f |", x/o)
			default:
				s += fmt.Sprintf(" %.2f |", o/x)
			}
		}
		return s
	}
	line := func(c benchCase, r row) {
		out := "| " + r.title + " |"
		vals := map[string]float64{}
		for _, im := range ims {
			s, v, ok := cell(results[key(c, im)], r.f, r.format)
			if ok {
				vals[im.name] = v
			}
			out += " " + s + " |"
		}
		fmt.Fprintln(w, out+ratios(vals, r.lower))
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	for _, c := range cases {
		for _, r := range c.rows() {
			line(c, r)
		}
	}

	// The idle case has no CPU time per message.
	busy := slices.DeleteFunc(slices.Clone(cases), func(c benchCase) bool { return c.pattern == "idle" })
	if len(busy) > 0 {
		fmt.Fprintln(w)
		perRequest := ""
		if slices.ContainsFunc(busy, benchCase.broker) {
			perRequest = " (broker cases: per request, all three processes)"
		}
		fmt.Fprintf(w, "CPU time per message or round trip (ns), sender and receiver processes together%s, medians:\n", perRequest)
		fmt.Fprintln(w)
		fmt.Fprintln(w, header)
		fmt.Fprintln(w, sep)
	}
	for _, c := range busy {
		title := c.title()[:strings.LastIndex(c.title(), " (")]
		if c.broker() {
			title = title[:strings.Index(title, ":")]
		}
		row := "| " + title + " |"
		vals := map[string]float64{}
		for _, im := range ims {
			v, ok := medianOf(results[key(c, im)], cpu)
			if !ok {
				row += " - |"
				continue
			}
			vals[im.name] = v
			row += fmt.Sprintf(" %.0f |", v)
		}
		fmt.Fprintln(w, row+ratios(vals, true))
	}

	// What heartbeats cost: each heartbeat case divided by the same case
	// without them, when both ran.
	for _, hb := range cases {
		off := benchCase{"pushpull", hb.transport, hb.size}
		if hb.pattern != "pushpull-hb" || !slices.Contains(cases, off) {
			continue
		}
		fmt.Fprintf(w, "\nHeartbeats on / off (PING every %v, timeout %v), PUSH->PULL %s %s: ratios of the medians above.\n", hbInterval, hbTimeout, hb.transport, hb.sizeName())
		fmt.Fprintln(w, "Throughput below 1, or CPU time above 1, is what heartbeats cost.")
		fmt.Fprintln(w)
		row := "| on / off |"
		sep := "|---|"
		for _, im := range ims {
			if hb.runs(im) {
				row += " " + im.label + " |"
				sep += "---|"
			}
		}
		fmt.Fprintln(w, row)
		fmt.Fprintln(w, sep)
		for _, m := range []struct {
			title string
			f     figure
		}{{"throughput", value}, {"CPU time per message", cpu}} {
			row := "| " + m.title + " |"
			for _, im := range ims {
				if !hb.runs(im) {
					continue
				}
				vOn, okOn := medianOf(results[key(hb, im)], m.f)
				vOff, okOff := medianOf(results[key(off, im)], m.f)
				if !okOn || !okOff {
					row += " - |"
					continue
				}
				row += fmt.Sprintf(" %.2f |", vOn/vOff)
			}
			fmt.Fprintln(w, row)
		}
	}

	// What Majordomo costs over the plain load balancer, ours: the mdp case
	// divided by the lb case, when both ran.
	for _, mdp := range cases {
		lb := benchCase{"lb", mdp.transport, mdp.size}
		if mdp.pattern != "mdp" || !slices.Contains(cases, lb) {
			continue
		}
		if _, ok := indexImpl(ims, "ours"); !ok {
			continue
		}
		fmt.Fprintf(w, "\nMajordomo / load balancer, ours, %s %s: ratios of the medians above.\n", mdp.transport, mdp.sizeName())
		fmt.Fprintln(w, "Throughput below 1, or latency or CPU time above 1, is what Majordomo costs over the load balancer.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| mdp / lb | ours |")
		fmt.Fprintln(w, "|---|---|")
		for _, m := range []struct {
			title string
			f     figure
		}{{"throughput", value}, {"latency p50", p50}, {"latency p99", p99}, {"CPU time per request", cpu}} {
			vM, okM := medianOf(results[key(mdp, impl{name: "ours"})], m.f)
			vL, okL := medianOf(results[key(lb, impl{name: "ours"})], m.f)
			if !okM || !okL {
				fmt.Fprintf(w, "| %s | - |\n", m.title)
				continue
			}
			fmt.Fprintf(w, "| %s | %.2f |\n", m.title, vM/vL)
		}
	}
}

func indexImpl(ims []impl, name string) (int, bool) {
	for i, im := range ims {
		if im.name == name {
			return i, true
		}
	}
	return -1, false
}
