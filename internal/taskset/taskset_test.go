package taskset

import (
	"testing"
	"time"
)

// The sums and makespans the task sets are known to have.
func TestSets(t *testing.T) {
	for _, c := range []struct {
		name       string
		sum, g, rr time.Duration
	}{
		{"T1", 103880 * time.Millisecond, 3860 * time.Millisecond, 6600 * time.Millisecond},
		{"T2", 29040 * time.Millisecond, 1580 * time.Millisecond, 5070 * time.Millisecond},
	} {
		ds := Durations(c.name, 1)
		if len(ds) != M {
			t.Fatalf("%s: %d tasks", c.name, len(ds))
		}
		if got := Sum(ds); got != c.sum {
			t.Errorf("%s: sum %v, want %v", c.name, got, c.sum)
		}
		if got := Greedy(ds, 32); got != c.g {
			t.Errorf("%s: G %v, want %v", c.name, got, c.g)
		}
		if got := RoundRobin(ds, 32); got != c.rr {
			t.Errorf("%s: RRsim %v, want %v", c.name, got, c.rr)
		}
	}
	if got := Sum(Durations("T2", 0.25)); got != 7260*time.Millisecond {
		t.Errorf("T2 at 0.25: sum %v, want 7.26s", got)
	}
}
