package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// processesBatch is a batch naming n new processes, from the first on,
// and nothing else.
func processesBatch(first, n int) [][]byte {
	var rms []*metricspb.ResourceMetrics
	for i := first; i < first+n; i++ {
		rms = append(rms, &metricspb.ResourceMetrics{Resource: &resourcepb.Resource{
			Attributes: []*commonpb.KeyValue{otlptest.Str("service.instance.id", fmt.Sprintf("flood-%06d", i))}}})
	}
	return [][]byte{[]byte(telemetry.Version), otlptest.Request(rms...)}
}

// A peer that names more processes than the collector keeps has those
// over its limit refused: counted on /metrics and on the collector's last
// line, while the batches themselves are taken in.
func TestCollectCountsProcessesOverLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	out, outW := io.Pipe()
	code := make(chan int, 1)
	db := filepath.Join(t.TempDir(), "z.db")
	go func() {
		code <- run(ctx, []string{"collect", "-bind", "tcp://127.0.0.1:0", "-db", db, "-http", "127.0.0.1:0"}, outW, io.Discard)
		outW.Close()
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("zprof collect said nothing")
	}
	m := regexp.MustCompile(`collecting on (\S+), serving (\S+),`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("zprof collect said %q", lines.Text())
	}
	push := connectPush(t, m[1])
	const batches, each = 3, 6000 // within MaxMessages a batch
	for i := range batches {
		if err := push.Send(ctx, socket.Msg(processesBatch(i*each, each))); err != nil {
			t.Fatal(err)
		}
	}
	want := batches*each - collect.MaxProcesses
	for {
		body := get(t, m[2]+"metrics")
		if strings.Contains(body, fmt.Sprintf("\nzprof_batches_total{result=\"ok\"} %d\n", batches)) {
			if !strings.Contains(body, fmt.Sprintf("\nzprof_processes_dropped_total %d\n", want)) {
				t.Errorf("/metrics does not count %d processes dropped:\n%s", want, body)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the batches were not taken in; /metrics:\n%s", body)
		case <-time.After(10 * time.Millisecond): // /metrics has no event to await
		}
	}
	cancel()
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if c := <-code; c != exitOK {
		t.Errorf("exit %d", c)
	}
	if last := rest[len(rest)-1]; !strings.Contains(last, fmt.Sprintf("0 points, %d processes", want)) {
		t.Errorf("last lines %q, want %d processes dropped", rest, want)
	}
}
