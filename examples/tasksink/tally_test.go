package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// Results naming a new worker each, long names at that, cost the sink a
// bounded tally: at most maxNames names of at most maxName bytes, every
// result counted once.
func TestTallyBounded(t *testing.T) {
	byWorker := map[string]int{}
	const results = 20 * maxNames
	long := strings.Repeat("w", 1000)
	for i := range results {
		count(byWorker, []byte(fmt.Sprintf("%08d", i)+long))
	}
	total, keyBytes := 0, 0
	for k, n := range byWorker {
		total += n
		keyBytes += len(k)
	}
	if len(byWorker) > maxNames+1 || keyBytes > (maxNames+1)*maxName || total != results {
		t.Fatalf("%d results: tally of %d names, %d bytes of names, counting %d", results, len(byWorker), keyBytes, total)
	}
	if s := tally(byWorker); !strings.Contains(s, fmt.Sprintf("(others, past %d names) %d", maxNames, results-maxNames)) {
		t.Fatalf("tally %.200q... does not count the others", s)
	}
	// A name tallied already is counted under itself past the bound.
	count(byWorker, []byte(fmt.Sprintf("%08d", 0)+long))
	if byWorker[fmt.Sprintf("%08d", 0)+long[:maxName-8]] != 2 {
		t.Fatal("a known worker's result past the bound not counted under its name")
	}
}

// Results that come before the start of the batch are kept as the name
// their worker is counted by, not whole: maxEarly results of the largest
// size a socket takes would be terabytes.
func TestEarlyResultsKeepNamesOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pull, err := socket.New(socket.Pull, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()
	ep, err := pull.Bind("inproc://tasksink-early")
	if err != nil {
		t.Fatal(err)
	}
	push, err := socket.New(socket.Push, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	const results = 20
	big := bytes.Repeat([]byte("w"), 1<<20)
	go func() {
		for range results {
			if push.Send(ctx, socket.Msg{big}) != nil {
				return
			}
		}
		push.Send(ctx, socket.NewMsgString("5"))
	}()
	n, early, err := awaitStart(ctx, pull)
	if err != nil || n != 5 || len(early) != results {
		t.Fatalf("awaitStart: %d, %d early, %v", n, len(early), err)
	}
	held := 0
	for _, m := range early {
		for _, f := range m {
			held += cap(f)
		}
		byWorker := map[string]int{}
		count(byWorker, m[0])
		if byWorker[string(big[:maxName])] != 1 {
			t.Fatalf("an early result counts as %v", byWorker)
		}
	}
	if held > results*maxName {
		t.Fatalf("%d early results of 1 MiB hold %d bytes, want at most %d", results, held, results*maxName)
	}
}
