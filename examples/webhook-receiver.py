#!/usr/bin/env python3
"""A webhook receiver for pgreflex that verifies each request (Standard Webhooks, v1).

    WEBHOOK_SECRET=whsec_... python3 examples/webhook-receiver.py --port 8787 --out events.jsonl

It checks the webhook-timestamp (within 5 minutes) and the webhook-signature (HMAC-SHA256 of
"id.timestamp.body" with the base64 part of each whsec_ secret, any of several for rotation),
drops a webhook-id it has seen (pgreflex sends the same id on every retry), appends each event
to --out, and answers 200 with a JSON outcome. A request that does not verify gets 401, which
pgreflex treats as permanent: it goes to the dead-letter queue. Standard library only.
"""
import argparse, base64, hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300


def keys(secrets):
    return [base64.b64decode(s[6:] if s.startswith("whsec_") else s) for s in secrets.split()]


def verify(keys, msg_id, timestamp, signatures, body):
    if not (msg_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return "timestamp out of tolerance"
    signed = f"{msg_id}.{timestamp}.".encode() + body
    offered = [s[3:] for s in signatures.split() if s.startswith("v1,")]
    for key in keys:
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, o) for o in offered):
            return None
    return "no matching signature"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--out", default="events.jsonl")
    parser.add_argument("--secret-env", default="WEBHOOK_SECRET")
    args = parser.parse_args()
    secret_keys = keys(os.environ[args.secret_env])
    seen = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            msg_id = self.headers.get("webhook-id")
            problem = verify(secret_keys, msg_id, self.headers.get("webhook-timestamp"), self.headers.get("webhook-signature"), body)
            if problem:
                self.send_response(401)
                self.end_headers()
                self.wfile.write(problem.encode())
                return
            if msg_id not in seen:  # a retry of something already handled
                seen.add(msg_id)
                with open(args.out, "ab") as out:
                    out.write(body + b"\n")
            outcome = json.dumps({"summary": "received", "webhook_id": msg_id}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(outcome)))
            self.end_headers()
            self.wfile.write(outcome)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
