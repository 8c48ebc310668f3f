#!/usr/bin/env python3
"""Peak memory of `pgreflex tail`, and of `pgreflex run` with a slow agent, on one 1M-row
transaction, against pg_recvlogical on the same WAL.

  Benchmarks/streamed-memory.py [--rows 1000000]

Starts a throwaway cluster (../shared/bench/pg-up.sh), writes one transaction of N rows behind a
slot, then drains copies of that slot with pg_recvlogical (pgoutput v1, to /dev/null) and with
pgreflex tail (protocol 2, streaming on, and protocol 1, streaming off), each to /dev/null except
for a line count, and with `pgreflex run` (the durable journal, and a route whose agent takes 5 ms
per call of 100 events, 4 at a time: the agent is the bottleneck, so the route's bounded queue and
the journal hold the backlog, not memory). Prints one JSON line per consumer: seconds, peak RSS
(MB), lines, and the ratio of pgreflex's peak RSS to pg_recvlogical's.
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.environ.get("BENCH_DIR", os.path.join(ROOT, "..", "shared", "bench"))


def psql(conn, sql):
    return subprocess.run(["psql", conn, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--consumer", help=argparse.SUPPRESS)
    a = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "pgreflex"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    exe = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip() + "/pgreflex"
    d = tempfile.mkdtemp(prefix="pgreflex-mem-", dir="/tmp")
    port = 55000 + os.getpid() % 1000
    try:
        conn = subprocess.run([os.path.join(BENCH, "pg-up.sh"), d, str(port)], check=True, capture_output=True,
                              text=True).stdout.strip().splitlines()[-1]
        psql(conn, "CREATE TABLE big (id int PRIMARY KEY, customer bigint, amount numeric(12,2), note text, at timestamptz DEFAULT now())")
        psql(conn, "CREATE PUBLICATION big_pub FOR TABLE big")
        psql(conn, "SELECT pg_create_logical_replication_slot('big_base', 'pgoutput')")
        psql(conn, f"INSERT INTO big (id, customer, amount, note) SELECT i, i % 1000, i / 100.0, md5(i::text) FROM generate_series(1, {a.rows}) i")
        end = psql(conn, "SELECT pg_current_wal_insert_lsn()")
        runs = [
            ("pg_recvlogical", lambda slot: ["pg_recvlogical", "-d", conn, "--slot", slot, "--start", "--endpos", end,
                                            "--no-loop", "-f", "-", "-o", "proto_version=1", "-o", "publication_names=big_pub"]),
            ("pgreflex tail (v2, streaming on)", lambda slot: [exe, "tail", "--dsn", conn, "--slot", slot, "--publication",
                                                               "big_pub", "--end-lsn", end, "--log-level", "warning"]),
            ("pgreflex tail (v1, streaming off)", lambda slot: [exe, "tail", "--dsn", conn, "--slot", slot, "--publication",
                                                                "big_pub", "--end-lsn", end, "--proto-version", "1",
                                                                "--streaming", "off", "--log-level", "warning"]),
            ("pgreflex run (journal, slow agent)", lambda slot: run_command(exe, d, conn, slot, end)),
        ]
        results = []
        for i, (name, make) in enumerate(runs):
            slot = f"big_run_{i}"
            psql(conn, f"SELECT pg_copy_logical_replication_slot('big_base', '{slot}', false)")
            # One measuring process per consumer, so ru_maxrss is that consumer's own peak.
            out = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(make(slot))], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out)
            r["consumer"] = name
            spill = psql(conn, f"SELECT spill_bytes, stream_txns FROM pg_stat_replication_slots WHERE slot_name = '{slot}'")
            r["server_spill_bytes"], r["server_streamed_txns"] = (int(x) for x in spill.split("|"))
            psql(conn, f"SELECT pg_drop_replication_slot('{slot}')")
            results.append(r)
        reference = results[0]["peak_rss_mb"]
        for r in results:
            r["rss_ratio_vs_pg_recvlogical"] = round(r["peak_rss_mb"] / reference, 2)
            print(json.dumps(r))
    finally:
        subprocess.run([os.path.join(BENCH, "pg-down.sh"), d, "--rm"], capture_output=True)


def run_command(exe, d, conn, slot, end):
    directory = os.path.join(d, slot)
    os.makedirs(directory)
    with open(os.path.join(directory, "run.yaml"), "w") as f:
        f.write(f"""source: {{ dsn: "{conn}", slot: {slot}, publication: big_pub, heartbeat_interval_ms: 0 }}
journal: {{ directory: {directory}/journal }}
schemas: {{ directory: {directory}/Schemas }}
state: {{ directory: {directory}/state }}
agents: {{ slow: {{ noop: {{ delay: 5ms }} }} }}
routes:
  everything: {{ tables: [public.big], agent: slow, batch: {{ max_size: 100, timeout: 50ms }}, concurrency: 4 }}
""")
    return [exe, "run", "--config", os.path.join(directory, "run.yaml"), "--end-lsn", end, "--log-level", "warning"]


MEASURE = r'''
import json, resource, subprocess, sys, time
cmd = json.loads(sys.argv[1])
t0 = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
lines = 0
for chunk in iter(lambda: p.stdout.read(1 << 20), b""):
    lines += chunk.count(b"\n")
err = p.stderr.read()
p.wait()
if p.returncode != 0:
    sys.exit(err.decode()[-2000:])
print(json.dumps({"seconds": round(time.perf_counter() - t0, 2), "lines": lines,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}))
'''

if __name__ == "__main__":
    main()
