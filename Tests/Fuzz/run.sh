#!/usr/bin/env bash
# Coverage-guided fuzzing of the pgoutput decoder with libFuzzer and AddressSanitizer.
#   Tests/Fuzz/run.sh [SECONDS]      (default 60)
# Crashes are written to Tests/Fuzz/artifacts/; the corpus grows in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
OUT=$(mktemp -d /tmp/pgreflex-fuzz-XXXXXX)
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name PGReflexWire -emit-library -static \
  -o "$OUT/libPGReflexWire.a" -emit-module -emit-module-path "$OUT/PGReflexWire.swiftmodule" \
  Sources/PGReflexWire/*.swift Sources/PGReflexWire/Messages/*.swift
swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$OUT" -L "$OUT" -lPGReflexWire \
  Tests/Fuzz/PgOutputFuzzer.swift -o "$OUT/pgoutput-fuzz"
mkdir -p Tests/Fuzz/artifacts "$OUT/corpus"
"$OUT/pgoutput-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 \
  -artifact_prefix=Tests/Fuzz/artifacts/ "$OUT/corpus"
