package telemetry

import (
	"testing"
)

// BenchmarkRecordMessage is a message's count and two histogram records
// on shared, multi-writer instruments (Counter, Histogram): what library
// code that records per message from many goroutines pays.
func BenchmarkRecordMessage(b *testing.B) {
	c := NewCounter("bench.messages", "{message}", String(AttrActor, "bench"))
	hq := NewHistogram("bench.queueing", String(AttrActor, "bench"))
	hh := NewHistogram("bench.handling", String(AttrActor, "bench"))
	b.ReportAllocs()
	defer reportCPU(b)()
	ns := int64(1)
	for b.Loop() {
		c.Add(1)
		hq.RecordNs(ns)
		hh.RecordNs(ns * 3)
		ns = (ns*7 + 1) & 0xffffff // values across many buckets
	}
}

// BenchmarkRecordActorMessage is what an actor records per message it
// times when profiling is on: two Recorder records (queueing and handling
// time) from its own goroutine, published every publishEvery records, and
// the exporter's share: it takes the records out of the recorders' rings
// once an interval, here every 128 messages (what the actors' sampling
// aims at in an interval). Its message count is its cell's, kept anyway.
func BenchmarkRecordActorMessage(b *testing.B) {
	hq, rq := NewRecorder("bench.queueing", String(AttrActor, "actor"))
	hh, rh := NewRecorder("bench.handling", String(AttrActor, "actor"))
	defer rq()
	defer rh()
	b.ReportAllocs()
	defer reportCPU(b)()
	ns := int64(1)
	for i := 1; b.Loop(); i++ {
		hq.RecordNs(ns)
		hh.RecordNs(ns * 3)
		ns = (ns*7 + 1) & 0xffffff // values across many buckets
		if i%128 == 0 {
			hq.drain()
			hh.drain()
		}
	}
}

// BenchmarkRecordMessageParallel is the same from every core at once, on
// one actor's series: the contended case.
func BenchmarkRecordMessageParallel(b *testing.B) {
	c := NewCounter("bench.messages", "{message}", String(AttrActor, "parallel"))
	hq := NewHistogram("bench.queueing", String(AttrActor, "parallel"))
	hh := NewHistogram("bench.handling", String(AttrActor, "parallel"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ns := int64(1)
		for pb.Next() {
			c.Add(1)
			hq.RecordNs(ns)
			hh.RecordNs(ns * 3)
			ns = (ns*7 + 1) & 0xffffff
		}
	})
}

// BenchmarkBatch is the exporter's work once an interval: reading the
// registry and the process and encoding a batch.
func BenchmarkBatch(b *testing.B) {
	e := newExporter(config{name: "bench"}, nil, "inproc://bench")
	b.ReportAllocs()
	for b.Loop() {
		e.batch()
	}
}
