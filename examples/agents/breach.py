#!/usr/bin/env python3
"""The seeds' breach: three high-value orders by one customer within ten minutes. The route's
window delivers them together ({"events": [...]}); this opens one ticket for the customer and
announces the breach on the WAL for whatever reads the stream next."""
import json
import sys

batch = json.load(sys.stdin)
orders = [e["after"] for e in batch.get("events", [batch])]
customer = orders[0]["customer_id"]
ids = [o["id"] for o in orders]
print(json.dumps({
    "summary": f"customer {customer}: {len(orders)} high-value orders within the window",
    "actions": [
        {"tool": "open_risk_ticket", "arguments": {"customer_id": customer, "order_ids": ids}},
        {"tool": "announce_breach", "arguments": {"customer_id": customer, "order_ids": ids}},
    ],
    "citations": [e["id"] for e in batch.get("events", [batch])],
}))
