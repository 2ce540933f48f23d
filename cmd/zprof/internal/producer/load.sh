#!/usr/bin/env bash
# The collector's cost: zprof collect (with -http and -pub) while PROCS
# producers (default 100) each send a batch a second, the CPU it used over
# SECS seconds (default 60, after 10 s of warming up) read from
# /proc/PID/stat, as % of one core. ACTORS sets each producer's actors
# (four series each). Run from anywhere: it builds what it runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROCS=${PROCS:-100} SECS=${SECS:-60} ACTORS=${ACTORS:-source,worker,sink}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/zprof" . && go build -o "$dir/producer" ./internal/producer
port=$((20000 + RANDOM % 20000))
"$dir/zprof" collect -bind tcp://127.0.0.1:$port -db "$dir/z.db" -http 127.0.0.1:0 -pub tcp://127.0.0.1:0 >"$dir/collect.out" 2>&1 &
cpid=$!
"$dir/producer" -connect tcp://127.0.0.1:$port -procs "$PROCS" -interval 1s -ticks 1000000 -actors "$ACTORS" >/dev/null &
ppid=$!
sleep 10
ticks() { awk '{print $14+$15}' /proc/$cpid/stat; }
a=$(ticks); t0=$(date +%s.%N)
sleep "$SECS"
b=$(ticks); t1=$(date +%s.%N)
kill $ppid; kill $cpid; wait $cpid || true
cat "$dir/collect.out"
awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" -v n="$PROCS" \
  'BEGIN { printf "zprof collect, %d producers at 1 batch/s: %.2f%% of one core over %.0f s\n", n, (b-a)/hz/(t1-t0)*100, t1-t0 }'
