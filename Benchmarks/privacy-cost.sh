#!/usr/bin/env bash
# What the privacy policies cost per change: pgreflex tail with a privacy section vs pgreflex tail
# without one, on copies of the same slot (1M inserts into the bench's orders table, 100 rows per
# transaction). The policies: email tokenized, customer_id hashed, notes redacted, a fourth
# column masked, so every event runs each kind of policy once. Pinning as in
# tail-vs-recvlogical.sh. Prints each median, then the ratios of the rounds.
#   Benchmarks/privacy-cost.sh [ROUNDS] [N]
source "$(dirname "$0")/bench-env.sh"
cat > "$DIR/privacy.yaml" <<'YAML'
privacy:
  keys: { env: PGREFLEX_PRIVACY_KEYS }
  columns:
    - { match: public.orders.email, policy: tokenize }
    - { match: public.orders.customer_id, policy: hash }
    - { match: public.orders.notes, policy: redact }
    - { match: public.orders.status, policy: mask, keep_first: 2 }
YAML
export PGREFLEX_PRIVACY_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)"
TAIL="$PGREFLEX tail --dsn \"{conn}\" --slot {slot} --publication {pub} --end-lsn {end} --log-level warning"
for _ in $(seq "$ROUNDS"); do
  bench_consumer a "cmd:sh -c 'exec $TAIL > /dev/null'"
  bench_consumer a "cmd:sh -c 'exec $TAIL --privacy $DIR/privacy.yaml > /dev/null'"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
plain = [r for r in rows if "--privacy" not in r["consumer"]]
private = [r for r in rows if "--privacy" in r["consumer"]]
n = rows[0]["n"]
cpu = lambda r: r["client_cpu_s"] / n * 1e6
print(json.dumps({
    "throughput_ratio_per_run": [round(b["changes_per_s"] / a["changes_per_s"], 3) for a, b in zip(plain, private)],
    "client_cpu_ratio_per_run": [round(cpu(b) / cpu(a), 3) for a, b in zip(plain, private)],
    "plain_client_cpu_us_per_change": round(statistics.median(cpu(r) for r in plain), 2),
    "privacy_client_cpu_us_per_change": round(statistics.median(cpu(r) for r in private), 2)}))
PY
