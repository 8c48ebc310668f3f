-- Where the example agents' actions land (examples/agents.yaml). Not published: an agent's
-- own writes should not wake agents (the loop guard skips them anyway).
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.payment_holds (order_id bigint PRIMARY KEY, reason text, placed_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS ops.purchase_order_drafts (id bigserial PRIMARY KEY, sku text, warehouse_id int, quantity int, drafted_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS ops.risk_tickets (id bigserial PRIMARY KEY, customer_id bigint, order_ids jsonb, opened_at timestamptz DEFAULT now());
