#!/usr/bin/env python3
"""The seeds' breach: three high-value orders by one customer within ten minutes. The route's
window delivers them together ({"events": [...]}); this announces one derived event,
risk.order_threshold_breach, through the WAL (the emit tool). The risk route picks it up."""
import json
import sys

batch = json.load(sys.stdin)
events = batch.get("events", [batch])
orders = [e["after"] for e in events]
customer = orders[0]["customer_id"]
print(json.dumps({
    "summary": f"customer {customer}: {len(orders)} high-value orders within the window",
    "actions": [{"tool": "announce_breach", "args": {"customer_id": customer, "order_ids": [o["id"] for o in orders]}}],
    "citations": [e["id"] for e in events],
}))
