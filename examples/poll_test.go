package examples_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// The poll-based examples (socket.Poll): mspoller, rrbroker with rrclient
// and rrworker, lvcache, each with libzmq peers (testdata/*.py, after the
// guide's programs) and, where there are ours, with ours.

// mspoller takes every task from a libzmq ventilator once, and weather
// updates for its zip code only from a libzmq weather server, in one loop.
func TestMSPoller(t *testing.T) {
	const tasks, updates = 300, 20
	ctx := testContext(t)
	wu := pyzmq.Start(t, "testdata/wuserver.py")
	weather := awaitLine(t, ctx, wu, `^Weather on (\S+)`)[1]
	ts := pyzmq.Start(t, "testdata/tasksource.py", "--tasks", strconv.Itoa(tasks))
	vent := awaitLine(t, ctx, ts, `^Tasks on (\S+)`)[1]
	p := start(t, ctx, "mspoller", "-vent", vent, "-weather", weather,
		"-tasks", strconv.Itoa(tasks), "-updates", strconv.Itoa(updates))
	if code := p.exit(ctx); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	out := p.out.String()
	seen := make(map[string]int)
	for _, m := range regexp.MustCompile(`(?m)^Task: (.*)$`).FindAllStringSubmatch(out, -1) {
		seen[m[1]]++
	}
	for i := range tasks {
		if n := seen[fmt.Sprintf("task %d", i)]; n != 1 {
			t.Errorf("task %d processed %d times", i, n)
		}
	}
	if len(seen) != tasks {
		t.Errorf("%d distinct tasks processed, want %d", len(seen), tasks)
	}
	got := regexp.MustCompile(`(?m)^Weather: (.*)$`).FindAllStringSubmatch(out, -1)
	if len(got) < updates {
		t.Errorf("%d weather updates, want at least %d", len(got), updates)
	}
	for _, m := range got {
		if !regexp.MustCompile(`^10001 -?\d+ \d+$`).MatchString(m[1]) {
			t.Errorf("weather update %q is not for 10001", m[1])
		}
	}
	p.await(ctx, fmt.Sprintf(`I: processed %d tasks and %d weather updates`, tasks, len(got)))
}

// rrbroker passes each request of our clients and the guide's to one of
// our workers or the guide's, and its reply back to the client that sent
// it: every client gets each of its replies once, and the broker counts
// as many requests as replies.
func TestRRBroker(t *testing.T) {
	const perClient = 50
	ctx := testContext(t)
	b := start(t, ctx, "rrbroker", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-stats", "100ms")
	m := b.await(ctx, `I: clients on (\S+), workers on (\S+)`)
	front, back := m[1], m[2]

	// The guide's worker first, attached before any request, so that the
	// DEALER's round-robin gives it some.
	pyWorker := pyzmq.Start(t, "testdata/rrworker.py", back)
	awaitLine(t, ctx, pyWorker, `^READY$`)
	for range 2 {
		start(t, ctx, "rrworker", "-connect", back, "-echo")
	}
	pyClient := pyzmq.Start(t, "testdata/rrclient.py", front, strconv.Itoa(perClient), "py")
	var clients []*proc
	for i := range 3 {
		clients = append(clients, start(t, ctx, "rrclient", "-connect", front, "-n", strconv.Itoa(perClient), "-name", fmt.Sprintf("c%d", i)))
	}
	for i, c := range clients {
		if code := c.exit(ctx); code != 0 {
			t.Fatalf("rrclient %d exit code %d", i, code)
		}
		out := c.out.String()
		for j := 1; j <= perClient; j++ {
			want := fmt.Sprintf("Received reply %d [World c%d %d]\n", j, i, j)
			if n := regexp.MustCompile(regexp.QuoteMeta(want)).FindAllStringIndex(out, -1); len(n) != 1 {
				t.Errorf("rrclient %d: %q %d times", i, want, len(n))
			}
		}
	}
	for j := 1; j <= perClient; j++ {
		awaitLine(t, ctx, pyClient, fmt.Sprintf(`^REPLY World py %d$`, j))
	}
	awaitLine(t, ctx, pyClient, `^DONE$`)
	awaitLine(t, ctx, pyWorker, `^REQUEST Hello `) // the guide's worker took its share
	total := 4 * perClient
	b.await(ctx, fmt.Sprintf(`I: %d requests, %d replies`, total, total))
}

// lvcache gives a late subscriber the last value of its topic at once,
// from its cache, and then the topic's live updates; both peers are
// libzmq's.
func TestLVCache(t *testing.T) {
	ctx := testContext(t)
	lvc := start(t, ctx, "lvcache", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-v")
	m := lvc.await(ctx, `I: publishers on (\S+), subscribers on (\S+)`)
	front, back := m[1], m[2]
	pub := pyzmq.Start(t, "testdata/pathopub.py", front, "10")
	awaitLine(t, ctx, pub, `^PUBLISHED 10$`)
	lvc.await(ctx, `(?m)^I: new topic 009$`) // every topic is cached: they came in order

	// The publisher is quiet now: what a subscriber gets comes from the cache.
	sub7 := pyzmq.Start(t, "testdata/pathosub.py", back, "007")
	awaitLine(t, ctx, sub7, `^MSG 007 Save Roger$`)
	lvc.await(ctx, `(?m)^Sending cached topic 007$`)
	sub3 := pyzmq.Start(t, "testdata/pathosub.py", back, "003")
	awaitLine(t, ctx, sub3, `^MSG 003 Save Roger$`)
	// A second subscriber to a topic someone has: the verbose XPUB passes
	// its subscription on, and it gets the cached value too.
	sub7b := pyzmq.Start(t, "testdata/pathosub.py", back, "007")
	awaitLine(t, ctx, sub7b, `^MSG 007 Save Roger$`)

	// Live updates pass through, to the subscriber of the topic only.
	if err := pub.Writeln("007 Off with his head!"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Writeln("003 Long live the queen"); err != nil {
		t.Fatal(err)
	}
	// The first subscriber to 007 got the cached value again when the
	// second subscribed (it is published to the topic, as in the guide).
	for {
		l := awaitLine(t, ctx, sub7, `^MSG .*`)
		if l[0] == "MSG 007 Off with his head!" {
			break
		}
		if l[0] != "MSG 007 Save Roger" {
			t.Fatalf("subscriber to 007 got %q", l[0])
		}
	}
	if l := awaitLine(t, ctx, sub3, `^MSG .*`); l[0] != "MSG 003 Long live the queen" {
		t.Fatalf("subscriber to 003 got %q", l[0])
	}
}

// A topic that is not plain printable text (here an escape sequence that
// would clear the terminal) is printed quoted, with Go's escapes, in both
// of lvcache's lines that name a topic; a plain one as the guide prints it.
func TestLVCacheTopicsEscaped(t *testing.T) {
	ctx := testContext(t)
	lvc := start(t, ctx, "lvcache", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-v")
	m := lvc.await(ctx, `I: publishers on (\S+), subscribers on (\S+)`)
	pub, _ := testSocket(t, socket.Pub, "")
	if err := pub.Connect(m[1]); err != nil {
		t.Fatal(err)
	}
	for pub.Stats().Subscribers == 0 { // no event tells of a subscription
		select {
		case <-ctx.Done():
			t.Fatal("lvcache never subscribed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	const evil = "\x1b[2J\x1b]0;owned\x07"
	for _, topic := range []string{"007", evil} {
		if err := pub.Send(ctx, socket.Msg{[]byte(topic), []byte("Save Roger")}); err != nil {
			t.Fatal(err)
		}
	}
	lvc.await(ctx, `(?m)^I: new topic 007$`)
	lvc.await(ctx, `(?m)^I: new topic "\\x1b\[2J\\x1b\]0;owned\\a"$`)
	sub, _ := testSocket(t, socket.Sub, "")
	if err := sub.Subscribe([]byte(evil)); err != nil {
		t.Fatal(err)
	}
	if err := sub.Connect(m[2]); err != nil {
		t.Fatal(err)
	}
	if got, err := sub.Recv(ctx); err != nil || string(got[0]) != evil {
		t.Fatalf("subscriber got %q, %v", got, err)
	}
	lvc.await(ctx, `(?m)^Sending cached topic "\\x1b\[2J\\x1b\]0;owned\\a"$`)
	if strings.ContainsRune(lvc.out.String(), 0x1b) {
		t.Errorf("an escape sequence reached the terminal: %q", lvc.out.String())
	}
}
