#!/usr/bin/env python3
"""Ticket classification (the seeds' support_tickets workflow), rule-based: an `exec` agent.
With a model, the `triage` llm agent in agents.yaml does the same job."""
import json
import sys

event = json.load(sys.stdin)
ticket = event["after"]
subject = (ticket.get("subject") or "").lower()
rules = [("billing", ("invoice", "refund", "charge", "payment")), ("shipping", ("delivery", "shipping", "package", "late")),
         ("account", ("login", "password", "account"))]
category = next((name for name, words in rules if any(w in subject for w in words)), "general")
print(json.dumps({
    "summary": f"ticket {ticket['id']} is about {category}",
    "actions": [{"tool": "set_ticket_category", "arguments": {"ticket_id": ticket["id"], "category": category}}],
    "citations": [event["id"]],
}))
