#!/usr/bin/env bash
# The tail demo: a throwaway local PostgreSQL with logical replication, a few orders, tickets
# and inventory changes, and `pgreflex tail` printing them as JSON lines. (`pgreflex demo` runs
# the agents; this shows the envelopes they get.)
# Everything it creates is removed when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "demo: PostgreSQL server binaries not found; apt-get install postgresql (or set PGBIN)" >&2; exit 1; }
swift build --product pgreflex >&2
PGREFLEX=$(swift build --show-bin-path)/pgreflex

DIR=$(mktemp -d /tmp/pgreflex-demo-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AS=()
if [ "$(id -u)" -eq 0 ]; then
  id -u postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$DIR"
  AS=(runuser -u postgres --)
fi
cleanup() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

(cd "$DIR" && "${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null)
cat >>"$DIR/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
wal_level = logical
CONF
(cd "$DIR" && "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w start >/dev/null)
DSN="host=$DIR port=$PORT user=postgres dbname=postgres"
echo "demo: PostgreSQL running at $DSN" >&2

psql "$DSN" -Xq -v ON_ERROR_STOP=1 -f examples/demo.sql
psql "$DSN" -Xq -v ON_ERROR_STOP=1 -c "INSERT INTO inventory VALUES ('SKU-1', 1, 40, '{\"reorder_point\": 25}')"

# The demo's tables are registered in Schemas/ (reviewed in git). The check is what CI runs after
# migrations; PGREFLEX_DEMO_SNAPSHOT=1 rewrites the registry from these tables instead.
TABLES=public.orders,public.support_tickets,public.inventory
if [ "${PGREFLEX_DEMO_SNAPSHOT:-}" = 1 ]; then
  "$PGREFLEX" schema snapshot --dsn "$DSN" --tables "$TABLES" --registry Schemas >&2
fi
echo "demo: pgreflex schema check against Schemas/" >&2
"$PGREFLEX" schema check --dsn "$DSN" --tables "$TABLES" --registry Schemas >&2
cp -r Schemas "$DIR/Schemas"

"$PGREFLEX" slot create --dsn "$DSN" --slot demo_slot >/dev/null
psql "$DSN" -Xq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES (42, 725.00, 'pending', true), (7, 19.99, 'paid', false);
INSERT INTO support_tickets (order_id, priority, subject, tags) VALUES (1, 2, 'Where is my parcel?', ARRAY['shipping', 'urgent']);
UPDATE inventory SET quantity_on_hand = 3 WHERE sku = 'SKU-1';
UPDATE orders SET status = 'shipped' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SELECT pg_logical_emit_message(true, 'demo', 'hello from a transaction');
SQL
END=$(psql "$DSN" -XAtc "SELECT pg_current_wal_insert_lsn()")

echo "demo: pgreflex tail --end-lsn $END" >&2
"$PGREFLEX" tail --dsn "$DSN" --slot demo_slot --publication agents_pub --end-lsn "$END" --registry "$DIR/Schemas" --log-level warning
