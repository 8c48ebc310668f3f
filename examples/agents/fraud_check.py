#!/usr/bin/env python3
"""Fraud check (the seeds' orders workflow), rule-based: an `exec` agent.

stdin: an orders change (Debezium envelope). stdout: the decision, {summary, actions, citations}.
Orders over 500, or a customer's first order, get a payment hold; nothing else happens.
Exit 75 asks pgreflex to try again later; any other failure dead-letters the event.
"""
import json
import sys

event = json.load(sys.stdin)
order = event["after"]
total = float(order["total_amount"] or 0)
reasons = []
if total > 500:
    reasons.append(f"total {total:.2f} is over 500")
if order.get("is_first_order"):
    reasons.append("first order")
actions = []
if reasons:
    actions.append({"tool": "place_payment_hold", "args": {"order_id": order["id"], "reason": "; ".join(reasons)}})
print(json.dumps({
    "summary": f"order {order['id']}: " + ("hold: " + "; ".join(reasons) if reasons else "no risk signal"),
    "actions": actions,
    "citations": [event["id"]],
}))
