package main

import (
	"math"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// Actors whose names differ only past the 16th character are two rows that
// say so: the column is as wide as the longest name, and a name over the
// bound loses its middle, keeping the end where names differ.
func TestTopActorNames(t *testing.T) {
	long := strings.Repeat("x", 60)
	names := []string{"pipeline/stage-worker-1", "pipeline/stage-worker-2", long + "-a", long + "-b"}
	tp := &top{agg: collect.NewAggregator(), latest: map[string]collect.Sample{}}
	for _, n := range names {
		s := collect.Sample{Point: collect.Point{Instance: "i1", Metric: telemetry.MetricActorMailboxDepth, Kind: collect.Gauge,
			Attrs: collect.Attrs{{Key: telemetry.AttrActor, Value: n}}, Value: 1}}
		tp.latest[n] = s
	}
	var out strings.Builder
	tp.render(&out)
	var got []string
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] != "zprof" && f[0] != "PROCESS" {
			got = append(got, f[0]) // the process is unknown: "", so the actor comes first
		}
	}
	// 40 runes: 19 of the start, "…", 20 of the end.
	x19, x18 := strings.Repeat("x", 19), strings.Repeat("x", 18)
	want := []string{"pipeline/stage-worker-1", "pipeline/stage-worker-2", x19 + "…" + x18 + "-a", x19 + "…" + x18 + "-b"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("actors %q, want %q in:\n%s", got, want, out.String())
	}
}

func TestElide(t *testing.T) {
	for _, tc := range []struct {
		s    string
		w    int
		want string
	}{
		{"worker", 6, "worker"},
		{"abcdefgh", 5, "ab…gh"},
		{"abcdefgh", 4, "a…gh"},
		{"ñandú-ñandú", 5, "ña…dú"},
	} {
		if got := elide(tc.s, tc.w); got != tc.want {
			t.Errorf("elide(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.want)
		}
	}
}

// An Outbox (a worker's PUSH of results) sends only messages out: in the
// first table, before any rate is known, its row shows how many it sent
// (OUT TOTAL), and "-" for the figures it has no series for (messages in,
// mailbox depth, errors), not 0. An actor's row shows its messages in,
// and "-" for messages out. (Its row showed IN TOTAL 0 and no count
// out.)
func TestTopOutboxRow(t *testing.T) {
	tp := &top{agg: collect.NewAggregator(), latest: map[string]collect.Sample{}}
	nan := math.NaN()
	for _, s := range []collect.Sample{
		{Point: collect.Point{Instance: "i1", Metric: telemetry.MetricActorMessages, Kind: collect.Counter, Value: 120,
			Attrs: collect.Attrs{{Key: telemetry.AttrActor, Value: "results"}, {Key: telemetry.AttrDirection, Value: "out"}}}, Rate: nan},
		{Point: collect.Point{Instance: "i1", Metric: telemetry.MetricActorMessages, Kind: collect.Counter, Value: 118,
			Attrs: collect.Attrs{{Key: telemetry.AttrActor, Value: "worker"}, {Key: telemetry.AttrDirection, Value: "in"}}}, Rate: nan},
		{Point: collect.Point{Instance: "i1", Metric: telemetry.MetricActorErrors, Kind: collect.Counter, Value: 0,
			Attrs: collect.Attrs{{Key: telemetry.AttrActor, Value: "worker"}}}, Rate: nan},
		{Point: collect.Point{Instance: "i1", Metric: telemetry.MetricActorMailboxDepth, Kind: collect.Gauge, Value: 2,
			Attrs: collect.Attrs{{Key: telemetry.AttrActor, Value: "worker"}}}},
	} {
		tp.latest[collect.SeriesKey(s.Instance, s.Metric, s.Attrs.JSON())] = s
	}
	var out strings.Builder
	tp.render(&out)
	// The process is unknown (""): the actor comes first.
	want := map[string]string{
		"results": "results - - - 120 - - - -",
		"worker":  "worker - - 118 - - - 2 0",
	}
	header := "PROCESS ACTOR IN/s OUT/s IN TOTAL OUT TOTAL P50 ms P99 ms DEPTH ERRORS"
	got := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "PROCESS":
			if strings.Join(f, " ") != header {
				t.Errorf("header %q, want %q", l, header)
			}
		case len(f) > 0 && f[0] != "zprof":
			got[f[0]] = strings.Join(f, " ")
		}
	}
	for actor, w := range want {
		if got[actor] != w {
			t.Errorf("row %q, want %q in:\n%s", got[actor], w, out.String())
		}
	}
}
