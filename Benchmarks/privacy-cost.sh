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
summarize_cost "--privacy" privacy
