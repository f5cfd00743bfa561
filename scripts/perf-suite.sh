#!/usr/bin/env bash
# Akari performance suite at three scales. Slow (1M patients alone takes an hour or more
# on 2 cores) and NOT part of CI.
#
#   scripts/perf-suite.sh
#
# For each size (10k, 100k, 1M patients), one after another, each dataset deleted before
# the next is built:
# 1. ingest: full sync of an NDJSON file end to end (MB/s, peak RSS, snapshot size),
#    `cargo bench -p akari-sync --bench ingest -- N` (one size per process: its own RSS);
# 2. search p50/p99 (akari-bench search; side by side with PostgreSQL when
#    AKARI_PERF_PG=1: a Debian package started here on 127.0.0.1 in a temporary directory);
# 3. a full snapshot (akari-bench prepare) served by a node child process: cold start to
#    first served page, the patient page over TLS with 200 paced clients, the whole-ward
#    print job (akari-bench pages).
# Every figure is preceded and followed by the machine's `uptime` (others share the cores).
# At the end the three-scale table (measured against the targets) replaces the block
# between the `scale-table` markers in docs/benchmarks.md (AKARI_PERF_DOC=0: do not).
#
# Environment: AKARI_PERF_SIZES ("10000 100000 1000000"), AKARI_PERF_CLIENTS (200),
# AKARI_PERF_PG (0), AKARI_PERF_LEDGER (0: 1 also runs the ledger bench), AKARI_PERF_WORK
# (a directory on a disk with room for the largest size: ~24 KB a patient for the ingest
# and ~22 KB a patient for the full snapshot, or that step is skipped and said so; default a new one under /var/tmp, removed at
# the end), CARGO_TARGET_DIR (default target).
# Results: printed as they come, and written to $AKARI_PERF_WORK/results.md; the figures
# the table is made of go to $AKARI_PERF_WORK/figures.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${AKARI_PERF_SIZES:-"10000 100000 1000000"}
clients=${AKARI_PERF_CLIENTS:-200}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${AKARI_PERF_WORK:-}" ]; then
  work=$AKARI_PERF_WORK; keep_work=1; mkdir -p "$work"
else
  work=$(mktemp -d /var/tmp/akari-perf.XXXXXX); keep_work=0
fi
work=$(cd "$work" && pwd)
pgdir=$(mktemp -d /tmp/akari-perf-pg.XXXXXX)
results="$work/results.md"
figures="$work/figures.txt"
# AKARI_PERF_APPEND=1 keeps the figures of an earlier run in the same work directory (a
# size measured again replaces its figures) and AKARI_PERF_TABLE_SIZES names the table's
# columns (default: the sizes of this run).
if [ "${AKARI_PERF_APPEND:-0}" != 1 ]; then : > "$figures"; fi
table_sizes=${AKARI_PERF_TABLE_SIZES:-$sizes}

cleanup() {
  scripts/perf-pg.sh stop "$pgdir" 2>/dev/null || true
  rm -rf "$pgdir"
  if [ "$keep_work" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# `figure NAME SIZE VALUE`: one measured figure for the table.
figure() { echo "$1 $2 $3" >> "$figures"; }
stamp() { echo "uptime $1: $(uptime)" | tee -a "$results" >&2; }
free_gb() { df -BG --output=avail "$work" | tail -1 | tr -dc '0-9'; }

echo "== building akari-bench and the ingest bench (release)" >&2
cargo build --release -p akari-bench >&2
cargo bench -p akari-sync --bench ingest --no-run >&2
bench="$target/release/akari-bench"

{
  echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM"
  echo
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine share the cores)."
  echo
} | tee "$results"

pg_args=()
if [ "${AKARI_PERF_PG:-0}" = 1 ]; then
  echo "== starting PostgreSQL on loopback" >&2
  pg_args=(--pg "$(scripts/perf-pg.sh start "$pgdir")")
fi

for n in $sizes; do
  # The NDJSON and the rows spilled while it is read, then those rows and the snapshot:
  # ~24 KB a patient at most at once.
  need=$(( n * 24 / 1000000 + 2 ))
  if [ "$(free_gb)" -lt "$need" ]; then
    echo "Ingest at $n patients: not measured — it needs about $need GB free under $work, $(free_gb) GB are." | tee -a "$results"
  else
  echo "== $n patients: ingest (full sync from NDJSON)" >&2
  stamp "before ingest $n"
  out=$(TMPDIR="$work" cargo bench -p akari-sync --bench ingest -- "$n" | tee -a "$results" | tee /dev/stderr)
  stamp "after ingest $n"
  # | patients | resources | MB | s | MB/s | p/s | r/s | CPU | MB/CPU s | RSS | spilled | snapshot MB | load |
  row=$(echo "$out" | awk -F'|' -v n="$n" 'NF == 15 && $2 + 0 == n')
  figure sync_s "$n" "$(echo "$row" | awk -F'|' '{print $5 + 0}')"
  figure sync_mbps "$n" "$(echo "$row" | awk -F'|' '{print $6 + 0}')"
  figure sync_rss_mb "$n" "$(echo "$row" | awk -F'|' '{print $11 + 0}')"
  figure snapshot_mb "$n" "$(echo "$row" | awk -F'|' '{print $13 + 0}')"
  # The blocks the file system gave the file (redb grows it in steps, leaving holes).
  figure snapshot_disk_mb "$n" "$(echo "$out" | sed -n 's/.*on disk \([0-9.]*\) MB.*/\1/p' | head -1)"
  fi

  echo "== $n patients: search" >&2
  stamp "before search $n"
  out=$("$bench" search --patients "$n" --work "$work/search-$n" "${pg_args[@]}" | tee -a "$results" | tee /dev/stderr)
  stamp "after search $n"
  rm -rf "$work/search-$n"
  # The worst Akari p99 (µs) over the query forms.
  figure search_p99_us "$n" "$(echo "$out" | awk -F'|' '
    $2 ~ /hospital ID|kana|hiragana|kanji|birth date/ && $4 + 0 > 0 { if ($4 + 0 > m) m = $4 + 0 }
    END { print m + 0 }')"

  # The full snapshot's NDJSON, the rows spilled while it syncs and the snapshot itself:
  # ~22 KB a patient at once.
  need=$(( n * 22 / 1000000 + 2 ))
  if [ "$(free_gb)" -lt "$need" ]; then
    echo "Patient pages at $n patients: not measured — the full snapshot needs about $need GB free under $work, $(free_gb) GB are." | tee -a "$results"
    figure pages_skipped "$n" "$need"
    continue
  fi
  echo "== $n patients: node start, patient page under $clients TLS clients, ward print" >&2
  stamp "before prepare $n"
  out=$("$bench" prepare --patients "$n" --data "$work/node-$n" | tee -a "$results" | tee /dev/stderr)
  stamp "after prepare $n / before pages $n"
  out=$("$bench" pages --data "$work/node-$n" --clients "$clients" | tee -a "$results" | tee /dev/stderr)
  stamp "after pages $n"
  rm -rf "$work/node-$n"
  figure first_page_s "$n" "$(echo "$out" | sed -n 's/.*to first served page (login) \([0-9.]*\) s.*/\1/p')"
  figure page_p99_ms "$n" "$(echo "$out" | awk -F'|' '$2 ~ /^ paced/ {print $6 + 0}')"
  figure ward_print_p99_ms "$n" "$(echo "$out" | sed -n 's/^Ward print .*p99 \([0-9.]*\) ms.*/\1/p')"
  figure ward_print_patients "$n" "$(echo "$out" | sed -n 's/^Ward print of the largest ward (\([0-9]*\) patients.*/\1/p')"
done
if [ "${AKARI_PERF_PG:-0}" = 1 ]; then scripts/perf-pg.sh stop "$pgdir"; fi

if [ "${AKARI_PERF_LEDGER:-0}" = 1 ]; then
  echo "== durable audit appends (ledger bench)" >&2
  stamp "before ledger"
  AKARI_BENCH_VERIFY_N=${AKARI_BENCH_VERIFY_N:-100000} cargo bench -p akari-accounts --bench ledger | tee -a "$results"
  stamp "after ledger"
fi

table="$work/scale-table.md"
scripts/perf-table.sh "$figures" "$table_sizes" > "$table"
{
  echo
  echo "### Three scales against the targets"
  echo
  cat "$table"
} | tee -a "$results"
if [ "${AKARI_PERF_DOC:-1}" = 1 ]; then
  doc=docs/benchmarks.md
  if grep -q '<!-- scale-table:start -->' "$doc"; then
    awk -v table="$table" '
      /<!-- scale-table:start -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
      /<!-- scale-table:end -->/ { skip = 0 }
      !skip' "$doc" > "$doc.new" && mv "$doc.new" "$doc"
    echo "== table written into $doc" >&2
  fi
fi

echo >&2
echo "== results ($results)" >&2
cat "$results"
