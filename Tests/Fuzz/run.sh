#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer and AddressSanitizer.
#   Tests/Fuzz/run.sh [TARGET] [SECONDS] [extra libFuzzer flags…]   (default: pgoutput, 60)
# pgoutput: the pgoutput and replication-frame decoders.
# cel: the CEL parser and evaluator, with the envelope reader; seeded from Tests/Fuzz/cel-seeds
#      and the conformance cases' expressions, with a dictionary of CEL's tokens.
# config, journal, checkpoint, outputs, traces: the harnesses of Tests/Fuzz/Harness (the YAML
#      configuration; journal segments and records from disk; cursor, confirmed-position and
#      gap files; webhook, exec and LLM answers and the actions in them; golden trace and
#      events files), built by SwiftPM with
#      libFuzzer into .build-fuzz and seeded from Tests/Fuzz/seeds/TARGET.
# Crashes are written to Tests/Fuzz/artifacts/; the corpus grows in a temp dir, removed at the end
# with the build products (a finding is kept as an artifact, which is what to keep).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=pgoutput
case "${1:-}" in pgoutput|cel|config|journal|checkpoint|outputs|traces) TARGET=$1; shift ;; esac
SECONDS_TO_RUN=${1:-60}
shift || true
mkdir -p Tests/Fuzz/artifacts
if [[ $TARGET =~ ^(config|journal|checkpoint|outputs|traces)$ ]]; then
  # Every Swift module instrumented; -DFUZZING leaves libFuzzer's main in charge.
  swift build --scratch-path .build-fuzz --product pgreflex-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >&2
  CORPUS=$(mktemp -d /tmp/pgreflex-fuzz-corpus-XXXXXX)
  trap 'rm -rf "$CORPUS"' EXIT
  PGREFLEX_FUZZ_TARGET=$TARGET .build-fuzz/debug/pgreflex-fuzz -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=5 \
    -rss_limit_mb=3072 -artifact_prefix=Tests/Fuzz/artifacts/$TARGET- "$@" "$CORPUS" "Tests/Fuzz/seeds/$TARGET"
  exit
fi
OUT=$(mktemp -d /tmp/pgreflex-fuzz-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
FLAGS=(-O -sanitize=fuzzer,address -parse-as-library)
swiftc "${FLAGS[@]}" -module-name PGReflexWire -emit-library -static \
  -o "$OUT/libPGReflexWire.a" -emit-module -emit-module-path "$OUT/PGReflexWire.swiftmodule" \
  Sources/PGReflexWire/*.swift Sources/PGReflexWire/Messages/*.swift
mkdir -p "$OUT/corpus"
if [[ $TARGET == pgoutput ]]; then
  swiftc "${FLAGS[@]}" -I "$OUT" -L "$OUT" -lPGReflexWire Tests/Fuzz/PgOutputFuzzer.swift -o "$OUT/fuzz"
  "$OUT/fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -artifact_prefix=Tests/Fuzz/artifacts/ "$@" "$OUT/corpus"
  exit
fi
# RE2's C face, instrumented too, and a module map so that swiftc finds `CRE2`.
mkdir -p "$OUT/cre2"
printf 'module CRE2 {\n  header "%s"\n  export *\n}\n' "$PWD/Sources/CRE2/include/CRE2.h" > "$OUT/cre2/module.modulemap"
clang++ -O1 -fsanitize=fuzzer-no-link,address -std=c++17 -ISources/CRE2/include -c Sources/CRE2/CRE2.cpp -o "$OUT/CRE2.o"
# The router's one Swift dependency besides Wire: the dispatcher's pure types (route settings).
swiftc "${FLAGS[@]}" -module-name PGReflexDispatch -emit-library -static \
  -o "$OUT/libPGReflexDispatch.a" -emit-module -emit-module-path "$OUT/PGReflexDispatch.swiftmodule" \
  -enable-upcoming-feature InternalImportsByDefault -enable-upcoming-feature MemberImportVisibility \
  Sources/PGReflexDispatch/*.swift
swiftc "${FLAGS[@]}" -module-name PGReflexRouter -emit-library -static -I "$OUT" -I "$OUT/cre2" \
  -o "$OUT/libPGReflexRouter.a" -emit-module -emit-module-path "$OUT/PGReflexRouter.swiftmodule" \
  -enable-upcoming-feature InternalImportsByDefault -enable-upcoming-feature MemberImportVisibility \
  Sources/PGReflexRouter/*.swift
swiftc "${FLAGS[@]}" -I "$OUT" -I "$OUT/cre2" -L "$OUT" -lPGReflexRouter -lPGReflexDispatch -lPGReflexWire "$OUT/CRE2.o" -lre2 -lstdc++ -lswiftSynchronization -lFoundation \
  Tests/Fuzz/CELFuzzer.swift -o "$OUT/fuzz"
mkdir -p "$OUT/seeds"
cp Tests/Fuzz/cel-seeds/* "$OUT/seeds/"
# The conformance cases' expressions, where ../shared/cel-spec is at hand.
SPEC=${CEL_SPEC_DIR:-../shared/cel-spec}
if [[ -d $SPEC ]]; then
  python3 - "$SPEC" "$OUT/seeds" <<'PY'
import re, sys, pathlib
spec, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
n = 0
for f in spec.glob("*.textproto"):
    for m in re.finditer(r'^\s*expr:\s*"((?:[^"\\]|\\.)*)"', f.read_text(), re.M):
        text = m.group(1).encode().decode("unicode_escape").encode("latin-1", "replace")
        (out / f"spec{n}").write_bytes(text + b"\0" + b'{"x": 1}')
        n += 1
PY
fi
"$OUT/fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=512 -timeout=2 -rss_limit_mb=2048 \
  -dict=Tests/Fuzz/cel.dict -artifact_prefix=Tests/Fuzz/artifacts/ "$@" "$OUT/corpus" "$OUT/seeds"
