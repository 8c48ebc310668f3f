#!/usr/bin/env python3
"""Ticket classification (the seeds' support_tickets workflow), rule-based: an `exec` agent.
It decides a category and a priority, then updates the ticket. examples/agents-llm.yaml has
the same job done by a model."""
import json
import sys

event = json.load(sys.stdin)
ticket = event["after"]
subject = (ticket.get("subject") or "").lower()
rules = [("billing", ("invoice", "refund", "charge", "payment")), ("shipping", ("delivery", "shipping", "package", "late")),
         ("account", ("login", "password", "account"))]
category = next((name for name, words in rules if any(w in subject for w in words)), "general")
urgent = any(w in subject for w in ("twice", "fraud", "urgent", "charged"))
priority = 1 if urgent else (ticket.get("priority") or 3)
print(json.dumps({
    "summary": f"ticket {ticket['id']} is about {category}, priority {priority}",
    "actions": [{"tool": "set_ticket_category", "args": {"ticket_id": ticket["id"], "category": category, "priority": priority}}],
    "citations": [event["id"]],
}))
