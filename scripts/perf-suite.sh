#!/usr/bin/env bash
# Akari performance suite. Slow (≈ 30–60 min on 2 cores) and NOT part of CI.
#
#   scripts/perf-suite.sh
#
# 1. search p50/p99 at 10k, 100k and 1M patients, Akari's in-memory index side by side
#    with the same patients in PostgreSQL (Debian package, started here on 127.0.0.1 in
#    a temporary directory, JSONB + GIN jsonb_path_ops + GIN pg_trgm), same queries;
# 2. the patient page over TLS with 200 concurrent clients at 100k patients, against a
#    node child process: cold start to first served page and the node's peak RSS;
# 3. with AKARI_PERF_LEDGER=1 / AKARI_PERF_INGEST=1 also the ledger and ingest benches.
#
# Environment: AKARI_PERF_SIZES ("10000 100000 1000000"), AKARI_PERF_PAGES_PATIENTS
# (100000), AKARI_PERF_CLIENTS (200), AKARI_PERF_WORK (a directory with ≥ 8 GB free;
# default a new one under /var/tmp, removed at the end; a given one is kept, and its
# prepared snapshot reused), CARGO_TARGET_DIR (default target).
# Results: printed, and written to $AKARI_PERF_WORK/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${AKARI_PERF_SIZES:-"10000 100000 1000000"}
pages_patients=${AKARI_PERF_PAGES_PATIENTS:-100000}
clients=${AKARI_PERF_CLIENTS:-200}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${AKARI_PERF_WORK:-}" ]; then
  work=$AKARI_PERF_WORK; keep_work=1; mkdir -p "$work"
else
  work=$(mktemp -d /var/tmp/akari-perf.XXXXXX); keep_work=0
fi
pgdir=$(mktemp -d /tmp/akari-perf-pg.XXXXXX)
results="$work/results.md"

cleanup() {
  scripts/perf-pg.sh stop "$pgdir" || true
  rm -rf "$pgdir"
  if [ "$keep_work" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== building akari-bench (release)" >&2
cargo build --release -p akari-bench >&2
bench="$target/release/akari-bench"

{
  echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM"
  echo
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine share the cores)."
  echo
} | tee "$results"

echo "== starting PostgreSQL on loopback" >&2
conn=$(scripts/perf-pg.sh start "$pgdir")
for n in $sizes; do
  echo "== search at $n patients" >&2
  "$bench" search --patients "$n" --work "$work" --pg "$conn" | tee -a "$results"
done
scripts/perf-pg.sh stop "$pgdir"

echo "== patient page at $pages_patients patients, $clients TLS clients" >&2
"$bench" prepare --patients "$pages_patients" --data "$work/node" | tee -a "$results"
"$bench" pages --data "$work/node" --clients "$clients" | tee -a "$results"

if [ "${AKARI_PERF_LEDGER:-0}" = 1 ]; then
  echo "== durable audit appends (ledger bench)" >&2
  AKARI_BENCH_VERIFY_N=${AKARI_BENCH_VERIFY_N:-100000} cargo bench -p akari-accounts --bench ledger | tee -a "$results"
fi
if [ "${AKARI_PERF_INGEST:-0}" = 1 ]; then
  echo "== ingest (sync bench)" >&2
  cargo bench -p akari-sync --bench ingest -- 10000 | tee -a "$results"
fi

echo >&2
echo "== results ($results)" >&2
cat "$results"
