#!/usr/bin/env python3
"""Acts on risk.order_threshold_breach (the derived event breach.py emits): opens one risk
ticket for the customer and places a payment hold on each order, with receipts."""
import base64
import json
import sys

event = json.load(sys.stdin)
breach = json.loads(base64.b64decode(event["message"]["content"]))
args = breach["arguments"]
customer = args["customer_id"]
order_ids = json.loads(args["order_ids"]) if isinstance(args["order_ids"], str) else args["order_ids"]
actions = [{"tool": "open_risk_ticket", "args": {"customer_id": customer, "order_ids": order_ids}}]
actions += [{"tool": "place_payment_hold", "args": {"order_id": o, "reason": "risk.order_threshold_breach"}} for o in order_ids]
print(json.dumps({
    "summary": f"customer {customer}: risk ticket and holds on {len(order_ids)} orders",
    "actions": actions,
    "citations": [event["id"], breach["causation_id"]],
}))
