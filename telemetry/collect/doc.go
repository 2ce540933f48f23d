// Package collect is the engine of the telemetry collector, cmd/zprof: it
// decodes the batches the telemetry package's exporters send (see that
// package's doc for the wire), merges those of many processes and hosts,
// stores them in an SQLite file, and serves them to Prometheus and to a
// live HTML page.
//
//   - Decode checks a batch's frames (version, count, MaxBatchBytes),
//     unmarshals its OTLP protobuf with OTLP's generated types, and checks
//     what it holds: bounded sizes and nesting, counts that add up, no NaN,
//     timestamps in order. Anything else is refused with one of the
//     package's errors: a batch comes from the network and is hostile
//     input until then.
//   - An Aggregator keeps the latest point of each series (process
//     instance, metric, attributes). The figures are cumulative, so the
//     latest point holds the totals; rates and the percentiles of the last
//     interval come from the difference with the point before.
//   - A Store writes samples, tasks and processes to SQLite (pure Go,
//     modernc.org/sqlite) in WAL mode, one transaction a second.
//   - A Collector ties them together for cmd/zprof: Ingest a batch, serve
//     the page (/), its data (/api/view) and Prometheus's exposition
//     (/metrics); WritePage and LoadView make the static report.
//
// # Limits
//
// Whatever its peers send, the collector keeps a bounded heap: each map
// keyed by what they name has a limit, and what goes over it is dropped
// and counted, on /metrics and in Collector.Dropped.
//
//   - The Aggregator keeps at most MaxSeries (131,072) series and
//     MaxProcesses (16,384) processes, holding at most MaxBytes (64 MiB) as
//     it counts them: its text, attributes and buckets, and a fixed cost
//     each. A point that would start a series over them is dropped
//     (zprof_points_dropped_total), a process refused with its points
//     (zprof_processes_dropped_total). Forget makes room again; zprof
//     forgets processes silent for ten minutes.
//   - A Collector's Window draws at most MaxLines (8,192) lines holding at
//     most MaxWindowBytes (48 MiB) of points (zprof_window_dropped_total).
//   - A Store queues at most MaxPendingBytes (16 MiB) of samples and tasks
//     (zprof_store_dropped_total), and remembers the ids of at most
//     2 x MaxSeries series: those the Aggregator keeps, sharing their
//     text, and of a database reopened the newest, 16 MiB of text at most.
//
// Measured (flood_test.go, go1.26 on amd64), the heap a flood leaves: a
// series costs about 650 bytes with attributes of 200 bytes, 1.5 KB with
// attributes of a kilobyte (the Aggregator keeps their text once, the
// Store's ids share it); 45,870 such series fill MaxBytes, 69 MB in all.
// A process costs about 1.5 KB with names of 400 bytes, one series and one
// line: 16,384 of them, 24 MB. The Window full, 48 MB; the Store's queue
// full, 16.5 MB, and as much again while a write holds the one before.
// With a 4 MiB batch being decoded (some 20 MB while it lasts), the live
// heap stays under 200 MB; each View in progress (the live page's
// /api/view) holds a copy of the Window's points more while it lasts.
//
// Batches waiting to be decoded are the socket's to bound: zprof's
// collector receives them on a PULL that holds at most 64 MiB of them from
// all programs together, and one batch over it (socket.WithRecvBudget),
// from at most 1,024 programs at once (socket.WithMaxPeers), each of which
// costs its connection beside, about 18 KB idle and a read buffer of 64
// KiB more while it sends fast: some 160 MB at most, beside the heap
// above.
//
// # The database
//
// Tables, with times in unix seconds (REAL) and attributes as a JSON
// object (TEXT):
//
//   - processes(instance, service, host, pid, first_seen, last_seen,
//     batches): one row a process run.
//   - samples, a view: one row a point received, with columns time,
//     instance, metric, kind, unit, attrs, actor, value, rate, count,
//     sum, p50, p90, p99. value is a sum's or gauge's; rate a counter's
//     increase a second since the series' previous row (or, for its first,
//     since the series' start); count and sum a
//     histogram's, cumulative; p50, p90 and p99 the histogram's quantiles
//     over the interval since its previous row. actor repeats the
//     zmqflow.actor attribute, for grouping. Unknown values are NULL. It
//     joins the tables series (a series' names, once) and points (its
//     figures, by series id), which keep the file and the writes small.
//   - tasks(instance, worker, slot, task, label, start, "end", error): one
//     row a task span; error is NULL when the task succeeded.
//
// In pandas: pd.read_sql("SELECT * FROM samples", sqlite3.connect(FILE)).
package collect
