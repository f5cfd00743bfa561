#!/usr/bin/env bash
# Builds the hospital binary — `cargo build --release --no-default-features`: no `akari
# demo`, no in-process FHIR server, no synthetic data, no test hooks — and fails, naming
# what it found, if any test machinery made it in:
#   1. the dependency graph of the binary holds no akari-testkit and no rsa;
#   2. the binary's symbols name no testkit code or test hook;
#   3. the binary has no route or command that exists only for tests or the demo.
# Extra arguments go to `cargo build` (e.g. --locked).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build --release --no-default-features (the hospital binary)"
cargo build --release --no-default-features --bin akari "$@"
bin="${CARGO_TARGET_DIR:-target}/release/akari"
problems=()

# 1. Dependencies. `cargo tree -e normal` is what the binary links, without dev- and
# build-dependencies.
tree="$(cargo tree --no-default-features -p akari -e normal --prefix none --format '{p}' "$@")"
for crate in akari-testkit rsa; do
  if grep -q "^$crate v" <<<"$tree"; then
    problems+=("depends on the crate $crate: $(cargo tree --no-default-features -p akari \
      -e normal -i "$crate" --prefix none "$@" 2>/dev/null | tr '\n' ' ' | head -c 300)")
  fi
done

# 2. Symbols (demangled). Code the binary never calls is dropped by the linker, so what is
# left here is test machinery the hospital binary can actually run.
patterns='akari_testkit|FaultInjector|FailingSink|TestHooks|for_tests?\b|synth|slow_test_route'
if ! command -v nm >/dev/null; then
  echo "nm is missing: apt-get install binutils" >&2
  exit 1
fi
found="$(nm --demangle --defined-only "$bin" | grep -oE "[[:alnum:]_:]*($patterns)[[:alnum:]_:]*" \
  | sort -u | head -n 20 || true)"
if [ -n "$found" ]; then
  problems+=("test machinery symbols in $bin:"$'\n'"$found")
fi

# 3. Behaviour: test-only routes and the demo command are absent.
if grep -aq '/_test/' "$bin"; then
  problems+=("$bin contains a /_test/ route")
fi
if "$bin" demo --help >/dev/null 2>&1; then
  problems+=("$bin still has the \`akari demo\` command")
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "FAIL: the hospital build contains test machinery:" >&2
  for p in "${problems[@]}"; do
    echo "  - $p" >&2
  done
  exit 1
fi
echo "OK: $bin ($(du -h "$bin" | cut -f1)) has no testkit, no rsa, no test hooks, no demo"
