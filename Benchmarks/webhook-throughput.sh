#!/usr/bin/env bash
# Webhook delivery against the limit of this machine: a webhook route (concurrency 64, signing on)
# delivers N inserted rows to a local nginx that answers 200 at once, and then wrk, a dedicated
# HTTP load generator, sends the same receiver requests of the same size with the same headers at
# the same concurrency (64 keep-alive connections). nginx is pinned to CPU 0 and the client
# (pgreflex or wrk) to CPU 1. Rates are read from nginx's own access log for both (requests
# between the 5th and 95th percentile of arrival times, so start and drain do not count), and
# printed as pgreflex's calls/s over wrk's requests/s, with each side's latency (pgreflex: its
# route's call-duration histogram; wrk: its own) and pgreflex's CPU per call.
#   Benchmarks/webhook-throughput.sh [N] [ROUNDS]     (default 100,000 rows, 2 rounds)
#   PGREFLEX_BIN=path (skip the build, measure that binary)
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light; installed here when run as root).
N=${1:-100000}
ROUNDS=${2:-2}
CONCURRENCY=64
RUN_PID= NGINX_PID=
bench_cleanup() {
  [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  return 0
}
for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -q wrk nginx-light >&2 || { apt-get update -q >&2 && apt-get install -y -q wrk nginx-light >&2; }
    else
      echo "webhook-throughput.sh: $tool is missing: apt-get install wrk nginx-light" >&2; exit 2
    fi
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
source "$(dirname "$0")/bench-cluster.sh"

# The receiver: one nginx worker, keep-alive without a request limit, a log per client.
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/nginx/logs"
cat > "$DIR/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $DIR/nginx/body;
  log_format pgreflex '\$msec \$content_length \$http_webhook_id \$http_webhook_timestamp \$http_webhook_signature \$http_idempotency_key \$http_traceparent';
  log_format plain '\$msec \$content_length';
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$HTTP_PORT backlog=4096;
    location /pgreflex { access_log $DIR/nginx/logs/pgreflex.log pgreflex buffer=256k flush=1s; return 200; }
    location /wrk { access_log $DIR/nginx/logs/wrk.log plain buffer=256k flush=1s; return 200; }
  }
}
NGINX
taskset -c 0 "$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/wrk" -d '' && break; sleep 0.1; done

psql "$CONN" -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE hook (id bigserial PRIMARY KEY, n int, note text)" \
  -c "CREATE PUBLICATION hook_pub FOR TABLE hook"
SECRET="whsec_$(head -c 32 /dev/urandom | base64 -w0)"
export HOOK_SECRET=$SECRET
RESULTS=$DIR/results.jsonl

# Percentiles of pgreflex's call-duration histogram (µs), and the rate nginx saw.
analyse() {
  python3 - "$@" <<'PY'
import json, sys
kind, log, out = sys.argv[1], sys.argv[2], sys.argv[3]
times = sorted(float(line.split()[0]) for line in open(log) if line.strip())
lo, hi = times[len(times) * 5 // 100], times[len(times) * 95 // 100]
inside = sum(1 for t in times if lo <= t <= hi)
row = {"client": kind, "requests": len(times), "per_s": round(inside / max(hi - lo, 1e-9))}
if kind == "pgreflex":
    import os
    status, cpu = sys.argv[4], int(sys.argv[5]) / os.sysconf("SC_CLK_TCK")
    h = json.load(open(status))["routes"]["deliver"]["callDuration"]
    counts, total = {i: c for i, c in h["buckets"]}, h["total"]
    def percentile(q):
        rank, seen = max(1, -(-int(q * total * 1000) // 1000)), 0
        for i in sorted(counts):
            seen += counts[i]
            if seen >= rank: return min(int(-(-(1.04 ** i) // 1)), h["maximum"])
    row.update({"p50_ms": round(percentile(0.5) / 1000, 2), "p99_ms": round(percentile(0.99) / 1000, 2),
                "max_ms": round(h["maximum"] / 1000, 2), "cpu_us_per_call": round(cpu / max(total, 1) * 1e6, 1)})
else:
    wrk = open(sys.argv[4]).read().split()
    def after(label):
        value = wrk[wrk.index(label) + 1]
        scale = {"us": 0.001, "ms": 1, "s": 1000}
        for unit in ("us", "ms", "s"):
            if value.endswith(unit): return round(float(value[:-len(unit)]) * scale[unit], 2)
    row.update({"p50_ms": after("50%"), "p99_ms": after("99%"), "wrk_requests_per_s": float(wrk[wrk.index("Requests/sec:") + 1])})
open(out, "a").write(json.dumps(row) + "\n")
print(json.dumps(row))
PY
}

for round in $(seq "$ROUNDS"); do
  # pgreflex: capture N rows (transactions of 100) and deliver each as a signed webhook.
  run="$DIR/round-$round"
  mkdir -p "$run"
  : > "$DIR/nginx/logs/pgreflex.log"
  cat > "$run/run.yaml" <<YAML
source: { dsn: "$CONN", slot: hook_$round, publication: hook_pub, create_slot: true }
journal: { directory: $run/journal }
schemas: { directory: $run/Schemas }
state: { directory: $run/state }
agents: { receiver: { webhook: { url: "http://127.0.0.1:$HTTP_PORT/pgreflex", secret_env: HOOK_SECRET } } }
routes:
  deliver: { tables: [public.hook], agent: receiver, concurrency: $CONCURRENCY }
YAML
  taskset -c 1 "$PGREFLEX" run --config "$run/run.yaml" --log-level warning 2>"$run/run.log" &
  RUN_PID=$!
  for _ in $(seq 100); do
    [ "$(psql "$CONN" -qXAt -c "SELECT count(*) FROM pg_stat_replication WHERE application_name <> ''")" != 0 ] && break
    sleep 0.1
  done
  psql "$CONN" -qX -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN FOR i IN 1..$((N / 100)) LOOP
      INSERT INTO hook (n, note) SELECT g, 'webhook throughput probe, a short note of about this size' FROM generate_series(1, 100) g; COMMIT;
    END LOOP; END \$\$"
  for _ in $(seq 600); do
    sleep 1
    done_calls=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["routes"]["deliver"]["callDuration"]["total"])' "$run/state/status.json" 2>/dev/null || echo 0)
    [ "$done_calls" -ge $((N / 100 * 100)) ] && break
  done
  sleep 1.5  # the status file and nginx's log buffer are written each second
  ticks=$(awk '{print $14 + $15}' "/proc/$RUN_PID/stat")
  kill "$RUN_PID"; wait "$RUN_PID" || true
  RUN_PID=
  psql "$CONN" -qXAt -c "SELECT pg_drop_replication_slot('hook_$round')" >/dev/null
  analyse pgreflex "$DIR/nginx/logs/pgreflex.log" "$RESULTS" "$run/state/status.json" "$ticks"

  # wrk: the same requests (a body of pgreflex's median size, its headers), the same concurrency.
  python3 - "$DIR/nginx/logs/pgreflex.log" "$DIR/post.lua" <<'PY'
import statistics, sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
size = int(statistics.median(int(l[1]) for l in lines))
_, _, wid, ts, sig, key, trace = lines[len(lines) // 2]
body = '{"note":"' + "x" * max(0, size - 11) + '"}'
open(sys.argv[2], "w").write(f'''wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["content-type"] = "application/json"
wrk.headers["user-agent"] = "pgreflex"
wrk.headers["webhook-id"] = "{wid}"
wrk.headers["webhook-timestamp"] = "{ts}"
wrk.headers["webhook-signature"] = "{sig}"
wrk.headers["idempotency-key"] = "{key}"
wrk.headers["traceparent"] = "{trace}"
''')
PY
  : > "$DIR/nginx/logs/wrk.log"
  taskset -c 1 wrk -t1 -c"$CONCURRENCY" -d10s --latency -s "$DIR/post.lua" "http://127.0.0.1:$HTTP_PORT/wrk" > "$DIR/wrk-$round.txt"
  sleep 1.5
  analyse wrk "$DIR/nginx/logs/wrk.log" "$RESULTS" "$DIR/wrk-$round.txt"
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda kind, field: statistics.median(r[field] for r in rows if r["client"] == kind)
p, w = med("pgreflex", "per_s"), med("wrk", "per_s")
print(f"pgreflex calls/s {round(p)} (p50 {med('pgreflex', 'p50_ms')} ms, p99 {med('pgreflex', 'p99_ms')} ms, "
      f"{med('pgreflex', 'cpu_us_per_call')} µs CPU per call, capture included)")
print(f"wrk requests/s   {round(w)} (p50 {med('wrk', 'p50_ms')} ms, p99 {med('wrk', 'p99_ms')} ms)")
print(f"pgreflex / wrk: {p / w:.3f}")
PY
