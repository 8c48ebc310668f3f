#!/usr/bin/env bash
# End to end with Docker: build the image, start PostgreSQL and pgreflex (docker/compose.yaml),
# write an order over 500 and a ticket, and check that the agents acted and the endpoints answer.
# Removes the containers and volumes it made, whatever happens.   Usage: bash docker/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker >/dev/null || { echo "smoke: docker is not installed" >&2; exit 1; }
compose=(docker compose -f docker/compose.yaml -p pgreflex-smoke)
cleanup() { "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT

"${compose[@]}" up --build -d
echo "smoke: waiting for /readyz" >&2
for _ in $(seq 1 90); do
  curl -fsS http://127.0.0.1:9187/readyz >/dev/null 2>&1 && break
  sleep 2
done
curl -fsS http://127.0.0.1:9187/readyz

psql_() { "${compose[@]}" exec -T postgres psql -U postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
psql_ "INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES (7, 900, 'new', false)"
psql_ "INSERT INTO support_tickets (order_id, priority, subject) VALUES (1, 2, 'Refund for a double charge')"
for _ in $(seq 1 30); do
  [ "$(psql_ "SELECT count(*) FROM ops.payment_holds")" = 1 ] && [ "$(psql_ "SELECT count(*) FROM support_tickets WHERE tags IS NOT NULL")" = 1 ] && break
  sleep 1
done
[ "$(psql_ "SELECT count(*) FROM ops.payment_holds")" = 1 ] || { echo "smoke: no payment hold" >&2; "${compose[@]}" logs pgreflex | tail -50; exit 1; }
[ "$(psql_ "SELECT count(*) FROM support_tickets WHERE tags IS NOT NULL")" = 1 ] || { echo "smoke: the ticket was not classified" >&2; exit 1; }
curl -fsS http://127.0.0.1:9187/metrics | grep -q 'pgreflex_changes_received_total{table="public.orders",op="c"}'
curl -fsS http://127.0.0.1:9187/ | grep -q '<table id="routes">'
"${compose[@]}" exec -T pgreflex pgreflex status --config /var/lib/pgreflex/examples/agents.yaml
echo "smoke: ok" >&2
