package examples_test

import (
	"fmt"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// The pipeline profiled with no change to its programs: ZMQFLOW_PROFILE
// names a PULL in the test, which stands for the collector. The last batch
// of each process (the one its Flush sends at exit) holds the exact counts
// of the messages it moved, and they add up across processes.
func TestPipelineProfiled(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	collector, err := socket.New(socket.Pull)
	if err != nil {
		t.Fatal(err)
	}
	defer collector.Close()
	cep, err := collector.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{telemetry.EnvProfile + "=" + cep}
	sink := startEnv(t, ctx, env, "tasksink", "-bind", loopback, "-kill", loopback)
	m := sink.await(ctx, sinkEndpoints)
	results, kill := m[1], m[2]
	vent := startEnv(t, ctx, env, "taskvent", "-bind", loopback, "-sink", results, "-workers", "2")
	tasks := vent.await(ctx, ventEndpoint)[1]
	var workers []*proc
	for i := range 2 {
		workers = append(workers, startEnv(t, ctx, env, "taskwork", "-name", fmt.Sprint("p", i), "-vent", tasks, "-sink", results, "-kill", kill))
	}
	for _, p := range append(workers, vent, sink) {
		if code := p.exit(ctx); code != 0 {
			t.Fatalf("%s: exit code %d", p.name, code)
		}
	}

	// Totals by program: each process's latest batch, added up.
	latest := map[string]map[string]float64{} // instance -> figures
	program := map[string]string{}            // instance -> service.name
	want := map[string]float64{
		"taskwork PULL in": 100, "taskwork PUSH out": 100,
		"tasksink PULL in": 101, "taskvent PUSH out": 101, // the batch's start too
	}
	sum := func() map[string]float64 {
		got := map[string]float64{}
		for inst, figs := range latest {
			for k, v := range figs {
				got[program[inst]+" "+k] += v
			}
		}
		return got
	}
	for {
		got := sum()
		ok := len(latest) == 4
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			break
		}
		b, err := collector.Recv(ctx)
		if err != nil {
			t.Fatalf("collector: %v; %d processes heard, totals %v, want %v", err, len(latest), got, want)
		}
		inst, name, figs := socketTotals(t, b)
		latest[inst], program[inst] = figs, name
	}
}

// socketTotals decodes a batch: the process's instance id and name, and
// its sockets' messages by type and direction ("PULL in").
func socketTotals(t *testing.T, b socket.Msg) (inst, name string, figs map[string]float64) {
	t.Helper()
	if len(b) < 2 || string(b[0]) != telemetry.Version {
		t.Fatalf("batch of %d frames", len(b))
	}
	figs = map[string]float64{}
	req := b[1]
	for len(req) > 0 {
		_, _, n := protowire.ConsumeTag(req)
		v, vn := protowire.ConsumeBytes(req[n:])
		if n < 0 || vn < 0 {
			t.Fatal("bad request")
		}
		req = req[n+vn:]
		var rm metricspb.ResourceMetrics
		if err := proto.Unmarshal(v, &rm); err != nil {
			t.Fatal(err)
		}
		for _, a := range rm.Resource.Attributes {
			switch a.Key {
			case "service.instance.id":
				inst = a.Value.GetStringValue()
			case "service.name":
				name = a.Value.GetStringValue()
			}
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != telemetry.MetricSocketMessages {
					continue
				}
				for _, p := range m.GetSum().GetDataPoints() {
					figs[attr(p.Attributes, telemetry.AttrSocketType)+" "+attr(p.Attributes, telemetry.AttrDirection)] += float64(p.GetAsInt())
				}
			}
		}
	}
	return inst, name, figs
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}
