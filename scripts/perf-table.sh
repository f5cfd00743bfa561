#!/usr/bin/env bash
# The three-scale table of scripts/perf-suite.sh: measured figures against the targets.
#   scripts/perf-table.sh FIGURES "10000 100000 1000000"
# FIGURES holds lines `NAME SIZE VALUE`. A target is judged at the largest size measured
# (a target stated at 1M and measured only at a smaller size says so); a figure missing
# at a size shows as "—".
set -euo pipefail
figures=${1:?usage: perf-table.sh FIGURES SIZES}
sizes=${2:?usage: perf-table.sh FIGURES SIZES}

awk -v sizes="$sizes" '
function val(name, n) { return ((name SUBSEP n) in f) ? f[name, n] : "" }
function show(v, unit) { return v == "" ? "—" : v unit }
function largest(name,   i, v) {
  for (i = ns; i >= 1; i--) { v = val(name, s[i]); if (v != "") { at = s[i]; return v } }
  at = ""; return ""
}
function label(n) { return n >= 1000000 ? n / 1000000 "M" : n / 1000 "k" }
function verdict(ok, v) {
  if (v == "") return "not measured"
  if (at != top) return (ok ? "met" : "**not met**") " at " label(at) " (not measured at " label(top) ")"
  return ok ? "met" : "**not met**"
}
function line(title, target, name, unit, cmp, limit,   i, row, v, ok) {
  row = "| " title " | " target
  for (i = 1; i <= ns; i++) row = row " | " show(val(name, s[i]), unit)
  v = largest(name)
  ok = (cmp == "<=") ? v + 0 <= limit : (cmp == "<") ? v + 0 < limit : v + 0 >= limit
  print row " | " (cmp == "info" ? "(context)" : verdict(ok, v)) " |"
}
# Growth from the smallest to the largest size measured: ratio of ratios for a figure
# that should grow as the patients (no more than 20 % faster; less is better), or at most
# `limit`× for a latency.
function growth(title, target, name, kind, limit,   i, a, b, r, row, ok, verdictText) {
  row = "| " title " | " target
  for (i = 1; i <= ns; i++) {
    a = val(name, s[1]); b = val(name, s[i])
    if (a == "" || b == "" || a + 0 == 0) { row = row " | —"; continue }
    r = (kind == "linear") ? (b / a) / (s[i] / s[1]) : b / a
    row = row " | " sprintf("%.2f", r)
    last = r; lastn = s[i]
  }
  if (lastn == "" || lastn == s[1]) verdictText = "not measured"
  else {
    ok = (kind == "linear") ? last <= 1.2 : last <= limit
    verdictText = (ok ? "met" : "**not met**") (lastn != top ? " at " label(lastn) " (not measured at " label(top) ")" : "")
  }
  print row " | " verdictText " |"
  lastn = ""
}
BEGIN {
  ns = split(sizes, s, " "); top = s[ns]
  while ((getline l < ARGV[1]) > 0) { split(l, p, " "); if (p[3] != "") f[p[1], p[2]] = p[3] }
  ARGV[1] = ""
  head = "| figure | target"; sep = "|---|---"
  for (i = 1; i <= ns; i++) { head = head " | " label(s[i]); sep = sep "|---" }
  print head " | verdict |"; print sep "|---|"
  line("full sync peak RSS (MB)", "≤ 1 GiB at 1M", "sync_rss_mb", "", "<=", 1024)
  line("full sync, FHIR NDJSON, end to end (MB/s)", "≥ 150 at 1M", "sync_mbps", "", ">=", 150)
  line("snapshot file (MB)", "≤ 6 GB at 1M", "snapshot_mb", "", "<=", 6000)
  line("… snapshot blocks on disk (MB)", "(context: the file is sparse)", "snapshot_disk_mb", "", "info", 0)
  line("node start to first served page (s)", "< 2 s at 1M", "first_page_s", "", "<", 2)
  line("search p99, worst query form (µs, in process)", "< 5 ms at 1M", "search_p99_us", "", "<", 5000)
  line("patient page p99, 200 paced TLS clients (ms)", "< 10 ms at 1M", "page_p99_ms", "", "<", 10)
  line("ward print, whole largest ward, p99 (ms)", "< 100 ms (60 patients)", "ward_print_p99_ms", "", "<", 100)
  line("… patients in that ward", "60", "ward_print_patients", "", "info", 0)
  growth("sync time ÷ patients, relative to " label(s[1]), "within 20 %", "sync_s", "linear", 0)
  growth("snapshot size ÷ patients, relative to " label(s[1]), "within 20 %", "snapshot_mb", "linear", 0)
  growth("search p99, relative to " label(s[1]), "≤ 2×", "search_p99_us", "ratio", 2)
  growth("patient page p99, relative to " label(s[1]), "≤ 2×", "page_p99_ms", "ratio", 2)
}' "$figures"
