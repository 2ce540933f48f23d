package main

import (
	"fmt"
	"strings"
	"testing"
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
