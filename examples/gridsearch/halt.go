package main

import (
	"fmt"
	"strconv"
	"strings"
)

// haltRule is -halt read: GNU parallel's forms, when, then the failures.
type haltRule struct {
	now     bool    // now: running points are killed too
	fails   int     // stop at this many failed points; 0: none
	percent float64 // or at this percentage of the points finished; 0: none
}

// parseHalt reads -halt: "" (never), N (soon,fail=N), [soon,|now,]fail=N
// or [soon,|now,]fail=P%.
func parseHalt(s string) (haltRule, error) {
	var h haltRule
	if s == "" || s == "0" {
		return h, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return h, fmt.Errorf("-halt %s: must not be negative", s)
		}
		h.fails = n
		return h, nil
	}
	bad := fmt.Errorf("-halt %q: want N, fail=N, fail=P%%, soon,fail=... or now,fail=...", s)
	when, rest, ok := strings.Cut(s, ",")
	switch {
	case !ok:
		rest = s
	case when == "now":
		h.now = true
	case when != "soon":
		return h, bad
	}
	v, ok := strings.CutPrefix(rest, "fail=")
	if !ok {
		return h, bad
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0 && f <= 100) {
			return h, fmt.Errorf("-halt %q: the percentage must be more than 0 and at most 100", s)
		}
		h.percent = f
		return h, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return h, fmt.Errorf("-halt %q: fail= wants a count of at least 1 or a percentage", s)
	}
	h.fails = n
	return h, nil
}

// String is the rule as -halt takes it.
func (h haltRule) String() string {
	when := "soon"
	if h.now {
		when = "now"
	}
	if h.percent > 0 {
		return fmt.Sprintf("%s,fail=%g%%", when, h.percent)
	}
	return fmt.Sprintf("%s,fail=%d", when, h.fails)
}
