#!/usr/bin/env python3
"""Reorder (the seeds' inventory workflow): quantity_on_hand fell below the reorder point.
The route only wakes it when quantity_on_hand changed and is under the point; this drafts a
purchase order for twice the point, less what is on hand."""
import json
import sys

event = json.load(sys.stdin)
row = event["after"]
point = int((row.get("attrs") or {}).get("reorder_point", 50)) if isinstance(row.get("attrs"), dict) else 50
quantity = max(1, 2 * point - int(row["quantity_on_hand"]))
print(json.dumps({
    "summary": f"{row['sku']} at warehouse {row['warehouse_id']}: {row['quantity_on_hand']} on hand, reorder {quantity}",
    "actions": [{"tool": "draft_purchase_order", "args": {"sku": row["sku"], "warehouse_id": row["warehouse_id"], "quantity": quantity}}],
    "citations": [event["id"]],
}))
