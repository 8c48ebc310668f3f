# Sourced by the throughput benchmarks: sets up as bench-cluster.sh does, then prepares the bench
# scenarios in $SCENARIOS (default a: N inserts, 100 rows per transaction; b: N updates; e: N/10
# mixed changes on three tables, 10 per transaction), each in its own base slot, and pins the postmaster to CPU 0 and consumers to CPU 1,
# as the bench README advises. Sets ROUNDS and N (the script's first two arguments) and OUT, and
# what bench-cluster.sh sets.
ROUNDS=${1:-3}
N=${2:-1000000}
source "$(dirname "${BASH_SOURCE[0]}")/bench-cluster.sh"
export BENCH_STATE="$DIR/state.json"
export BENCH_CONN=$CONN
python3 "$BENCH/bench.py" prepare --n "$N" --scenarios "${SCENARIOS:-a}" >&2
taskset -p -c 0 "$(head -1 "$DIR/data/postmaster.pid")" >/dev/null
export CLIENT_WRAP="taskset -c 1"
OUT="$DIR/results.jsonl"

# bench_consumer SCENARIO CONSUMER [RUNS]: RUNS runs (default 3) of one consumer, each on a fresh
# copy of the scenario's slot, each run's line appended to $OUT. What a run left (a pgreflex
# journal and state in $DIR/run_*, a gigabyte for 1M changes) goes before the next run starts:
# left behind, the kernel's writeback of it made the runs after it cost a third more CPU.
bench_consumer() {
  for _ in $(seq "${3:-3}"); do
    python3 "$BENCH/bench.py" run --scenario "$1" --reps 1 --consumer "$2" | tail -n 1 | tee -a "$OUT" >&2
    rm -rf "$DIR"/run_*
    sync
  done
}

# Prints, from $OUT, each run's pgreflex/pg_recvlogical throughput ratio and the medians:
# the scripts that race a pgreflex consumer against recv-pgoutput end with it.
summarize_against_recvlogical() {
  python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ref = [r for r in rows if r["consumer"] == "recv-pgoutput"]
ours = [r for r in rows if r["consumer"] != "recv-pgoutput"]
ratios = [b["changes_per_s"] / a["changes_per_s"] for a, b in zip(ref, ours)]
print(json.dumps({"ratio_per_run": [round(x, 3) for x in ratios], "median_ratio": round(statistics.median(ratios), 3),
                  "pgreflex_changes_per_s": round(statistics.median(r["changes_per_s"] for r in ours)),
                  "pgreflex_client_cpu_us_per_change": round(statistics.median(r["client_cpu_s"] for r in ours) / rows[0]["n"] * 1e6, 2),
                  "recvlogical_client_cpu_us_per_change": round(statistics.median(r["client_cpu_s"] for r in ref) / rows[0]["n"] * 1e6, 2)}))
PY
}

# summarize_cost MATCH NAME: from $OUT, the runs whose consumer contains MATCH against the others
# (the plain runs), run by run: throughput and client CPU ratios, and each side's CPU per change.
# The scripts that measure what one feature costs end with it.
summarize_cost() {
  python3 - "$OUT" "$1" "$2" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
match, name = sys.argv[2], sys.argv[3]
plain = [r for r in rows if match not in r["consumer"]]
costly = [r for r in rows if match in r["consumer"]]
n = rows[0]["n"]
cpu = lambda r: r["client_cpu_s"] / n * 1e6
print(json.dumps({
    "throughput_ratio_per_run": [round(b["changes_per_s"] / a["changes_per_s"], 3) for a, b in zip(plain, costly)],
    "client_cpu_ratio_per_run": [round(cpu(b) / cpu(a), 3) for a, b in zip(plain, costly)],
    "plain_client_cpu_us_per_change": round(statistics.median(cpu(r) for r in plain), 2),
    f"{name}_client_cpu_us_per_change": round(statistics.median(cpu(r) for r in costly), 2)}))
PY
}
