package socket_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// batchFigures decodes a batch's metrics frame with the generated OTLP
// types into "name{k=v,...}" -> value (Sums and Gauges).
func batchFigures(t *testing.T, m socket.Msg) map[string]float64 {
	t.Helper()
	if len(m) < 2 || string(m[0]) != telemetry.Version {
		t.Fatalf("batch of %d frames, not %s", len(m), telemetry.Version)
	}
	out := make(map[string]float64)
	b := m[1]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			t.Fatalf("request field %d type %d", num, typ)
		}
		v, vn := protowire.ConsumeBytes(b[n:])
		if vn < 0 {
			t.Fatal("request: bad length")
		}
		b = b[n+vn:]
		var rm metricspb.ResourceMetrics
		if err := proto.Unmarshal(v, &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, mt := range sm.Metrics {
				var pts []*metricspb.NumberDataPoint
				switch d := mt.Data.(type) {
				case *metricspb.Metric_Sum:
					pts = d.Sum.DataPoints
				case *metricspb.Metric_Gauge:
					pts = d.Gauge.DataPoints
				}
				for _, p := range pts {
					k := seriesKey(mt.Name, p.Attributes)
					if _, dup := out[k]; dup {
						t.Fatalf("series %s twice in a batch", k)
					}
					out[k] = float64(p.GetAsInt()) + p.GetAsDouble()
				}
			}
		}
	}
	return out
}

func seriesKey(name string, attrs []*commonpb.KeyValue) string {
	var kv []string
	for _, a := range attrs {
		kv = append(kv, fmt.Sprintf("%s=%s", a.Key, strings.Trim(a.Value.String(), " ")))
	}
	sort.Strings(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

func socketKey(metric, typ, ep, dir string) string {
	attrs := []*commonpb.KeyValue{
		{Key: telemetry.AttrSocketType, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: typ}}},
		{Key: telemetry.AttrSocketEndpoint, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: ep}}},
	}
	if dir != "" {
		attrs = append(attrs, &commonpb.KeyValue{Key: telemetry.AttrDirection, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: dir}}})
	}
	return seriesKey(metric, attrs)
}

func stopProfiling(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := telemetry.Stop(ctx); err != nil {
		t.Fatalf("telemetry.Stop: %v", err)
	}
}

// profileTo turns profiling on, to a collector's PULL the test reads: with
// an interval longer than the test, the one batch is Stop's.
func profileTo(t *testing.T, opts ...telemetry.Option) *tsock {
	collector := openSock(t, socket.Pull)
	cep := collector.bind("tcp://127.0.0.1:*")
	opts = append([]telemetry.Option{telemetry.WithInterval(time.Hour)}, opts...)
	if err := telemetry.Start(context.Background(), cep, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = telemetry.Stop(context.Background()) })
	return collector
}

// profiledEndpoint is an endpoint of tr for one test: series are named by
// their endpoints, and cumulative, so each run has its own, a tcp port too.
func profiledEndpoint(t *testing.T, tr transport) string {
	if tr.name == "tcp" {
		return freeTCPEndpoint(t)
	}
	return tr.endpoint(t)
}

// collected stops profiling and returns the figures of the batch Stop
// flushed to collector.
func collected(t *testing.T, collector *tsock) map[string]float64 {
	t.Helper()
	stopProfiling(t)
	m, err := collector.Recv(testCtx(t, waitLimit))
	if err != nil {
		t.Fatalf("collector: %v", err)
	}
	return batchFigures(t, m)
}

// checkFigures fails the test for each figure of want that got lacks or
// has another value.
func checkFigures(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("batch: %v", got)
	}
}

// A collector's PULL gets, from the batch that Stop flushes, the exact
// totals of the messages and bytes the profiled sockets moved.
func TestProfileEndToEnd(t *testing.T) {
	collector := profileTo(t, telemetry.WithName("e2e"))
	ep := inprocName(t)
	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	push := openSock(t, socket.Push)
	push.connect(ep)
	const n = 1000
	for i := range n {
		push.send(fmt.Sprintf("%09d", i)) // 9 bytes
	}
	for range n {
		pull.recv()
	}
	push.Close()
	pull.Close() // closed sockets keep their totals

	checkFigures(t, collected(t, collector), map[string]float64{
		socketKey(telemetry.MetricSocketMessages, "PUSH", ep, "out"): n,
		socketKey(telemetry.MetricSocketBytes, "PUSH", ep, "out"):    9 * n,
		socketKey(telemetry.MetricSocketMessages, "PULL", ep, "in"):  n,
		socketKey(telemetry.MetricSocketBytes, "PULL", ep, "in"):     9 * n,
		socketKey(telemetry.MetricSocketMessages, "PUSH", ep, "in"):  0,
		socketKey(telemetry.MetricSocketDrops, "PUSH", ep, ""):       0,
		socketKey(telemetry.MetricSocketPeers, "PULL", ep, ""):       0,
	})
	if extra, err := collector.TryRecv(); !errors.Is(err, socket.ErrWouldBlock) {
		t.Errorf("a second batch: %v, %v", extra, err)
	}
}

// Sockets of one type and endpoint add up in one series, so that a program
// that opens a socket per request (a Lazy Pirate client reopens its socket
// on every retry) keeps a bounded number of series, with exact totals.
func TestProfileSocketsShareSeries(t *testing.T) {
	collector := profileTo(t)
	dropped := telemetry.ReadStats().SeriesDropped
	ep := inprocName(t)
	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	const n = 400 // more sockets than MaxSeries allows series of their own
	for i := range n {
		push := openSock(t, socket.Push)
		push.connect(ep)
		push.send(fmt.Sprintf("%09d", i))
		pull.recv()
		push.Close()
	}
	pull.Close()
	checkFigures(t, collected(t, collector), map[string]float64{
		socketKey(telemetry.MetricSocketMessages, "PUSH", ep, "out"): n,
		socketKey(telemetry.MetricSocketBytes, "PUSH", ep, "out"):    9 * n,
		socketKey(telemetry.MetricSocketMessages, "PULL", ep, "in"):  n,
	})
	if d := telemetry.ReadStats().SeriesDropped - dropped; d != 0 {
		t.Errorf("%d series dropped", d)
	}
}

// A program that opens sockets on new endpoints without end (a server
// binding an ephemeral port per session) stays profiled: once the registry
// is full, the series of closed sockets whose last totals were shipped
// make room for new ones, and none is dropped. Each round ends with Stop,
// which ships one batch, and starts again.
func TestProfileNewEndpointsMakeRoom(t *testing.T) {
	collector := openSock(t, socket.Pull)
	cep := collector.bind("tcp://127.0.0.1:*")
	dropped := telemetry.ReadStats().SeriesDropped
	// 12 series a pair of sockets: 4,800 series, MaxSeries more than twice.
	const rounds, pairs = 20, 20
	var last map[string]float64
	var ep string
	for r := range rounds {
		if err := telemetry.Start(context.Background(), cep, telemetry.WithInterval(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for range pairs {
			ep = inprocName(t)
			pull := openSock(t, socket.Pull)
			pull.bind(ep)
			push := openSock(t, socket.Push)
			push.connect(ep)
			push.send("x")
			pull.recv()
			push.Close()
			pull.Close()
		}
		stopProfiling(t)
		m, err := collector.Recv(testCtx(t, waitLimit))
		if err != nil {
			t.Fatalf("round %d: collector: %v", r, err)
		}
		last = batchFigures(t, m)
	}
	if d := telemetry.ReadStats().SeriesDropped - dropped; d != 0 {
		t.Errorf("%d series dropped", d)
	}
	for _, k := range []string{ // checkFigures would log thousands of series
		socketKey(telemetry.MetricSocketMessages, "PUSH", ep, "out"),
		socketKey(telemetry.MetricSocketMessages, "PULL", ep, "in"),
	} {
		if v, ok := last[k]; v != 1 {
			t.Errorf("last batch: %s = %v (present %v), want 1", k, v, ok)
		}
	}
	if n := len(last); n > telemetry.MaxSeries+20 {
		t.Errorf("last batch holds %d series", n)
	}
}

// With nothing listening at the profile's endpoint, a program's sends go
// on unhindered: the batches that find no room are dropped and counted,
// and Stop returns when its ctx ends.
func TestProfileAbsentCollector(t *testing.T) {
	before := telemetry.ReadStats().BatchesDropped
	if err := telemetry.Start(context.Background(), freeTCPEndpoint(t), telemetry.WithInterval(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = telemetry.Stop(context.Background()) })
	ep := inprocName(t)
	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	push := openSock(t, socket.Push)
	push.connect(ep)
	ctx := testCtx(t, waitLimit)
	for i := 0; telemetry.ReadStats().BatchesDropped < before+3; i++ {
		if err := push.Send(ctx, socket.NewMsgString("x")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if _, err := pull.Recv(ctx); err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := telemetry.Stop(sctx); err == nil {
		t.Log("Stop delivered with no collector") // possible only if the port got a listener
	}
}

// The types that count their messages in their pipes' queues (PUSH, PULL,
// DEALER, PAIR) report exact totals over every transport, with the
// receiver connecting before or after the sender binds, and for messages
// taken after their sender went away (a receiving pipe that left the
// socket with messages still queued).
func TestProfileQueuedCounts(t *testing.T) {
	for _, pair := range [][2]socket.Type{{socket.Push, socket.Pull}, {socket.Dealer, socket.Dealer}, {socket.Pair, socket.Pair}} {
		for _, connectFirst := range []bool{false, true} {
			name := fmt.Sprintf("%v-%v/connect-first=%v", pair[0], pair[1], connectFirst)
			t.Run(name, func(t *testing.T) {
				eachTransport(t, func(t *testing.T, tr transport) {
					profileQueued(t, tr, pair[0], pair[1], connectFirst)
				})
			})
		}
	}
}

func profileQueued(t *testing.T, tr transport, txType, rxType socket.Type, connectFirst bool) {
	collector := profileTo(t)
	tx, rx := openSock(t, txType), openSock(t, rxType)
	ep := profiledEndpoint(t, tr)
	if connectFirst {
		rx.connect(ep)
		tx.bind(ep)
	} else {
		tx.bind(ep)
		rx.connect(ep)
	}
	const n = 400
	for i := range n {
		tx.send(fmt.Sprintf("%09d", i)) // 9 bytes
	}
	for range n / 2 {
		rx.recv()
	}
	tx.Close() // lingers until the rest is delivered
	if tr.name != "inproc" && rxType == socket.Pull {
		// The PULL's pipe leaves it when the connection ends, before it
		// redials: the rest is taken from a pipe that is gone.
		rx.await(socket.EventDisconnected)
		rx.await(socket.EventConnectRetried)
	}
	for range n - n/2 {
		rx.recv()
	}
	rx.Close()

	got := collected(t, collector)
	tn, rn := txType.String(), rxType.String()
	want := map[string]float64{
		socketKey(telemetry.MetricSocketMessages, tn, ep, "out"): n,
		socketKey(telemetry.MetricSocketBytes, tn, ep, "out"):    9 * n,
		socketKey(telemetry.MetricSocketMessages, rn, ep, "in"):  n,
		socketKey(telemetry.MetricSocketBytes, rn, ep, "in"):     9 * n,
	}
	if tn != rn { // else the two sockets' series add up in one key
		want[socketKey(telemetry.MetricSocketMessages, rn, ep, "out")] = 0
		want[socketKey(telemetry.MetricSocketMessages, tn, ep, "in")] = 0
	}
	checkFigures(t, got, want)
}

// In a conversation, replies written through to the peer (direct.go)
// rather than queued are counted all the same: exact totals both ways.
func TestProfileConversationCounts(t *testing.T) {
	for _, typ := range []socket.Type{socket.Dealer, socket.Pair} {
		t.Run(typ.String(), func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				collector := profileTo(t)
				a, b := openSock(t, typ), openSock(t, typ)
				ep := profiledEndpoint(t, tr)
				a.bind(ep)
				b.connect(ep)
				const n = 300
				for i := range n {
					b.send(fmt.Sprintf("%09d", i))
					a.recv()
					a.send(fmt.Sprintf("%09d", i))
					b.recv()
				}
				a.Close()
				b.Close()
				tn := typ.String() // both sockets' series add up in one key
				checkFigures(t, collected(t, collector), map[string]float64{
					socketKey(telemetry.MetricSocketMessages, tn, ep, "out"): 2 * n,
					socketKey(telemetry.MetricSocketBytes, tn, ep, "out"):    2 * 9 * n,
					socketKey(telemetry.MetricSocketMessages, tn, ep, "in"):  2 * n,
					socketKey(telemetry.MetricSocketBytes, tn, ep, "in"):     2 * 9 * n,
				})
			})
		})
	}
}
