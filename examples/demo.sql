-- The demo's tables (the seeds' e-commerce example), registered in Schemas/, and the
-- publication pgreflex reads them through. `pgreflex demo`, examples/demo.sh and the example
-- tests all start from this file.
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint, total_amount numeric(12,2),
                     status text, is_first_order bool, created_at timestamptz DEFAULT now());
CREATE TABLE support_tickets (id bigserial PRIMARY KEY, order_id bigint, priority smallint, subject text, tags text[]);
-- attrs holds the reorder point: {"reorder_point": 25}.
CREATE TABLE inventory (sku text, warehouse_id int, quantity_on_hand int, attrs jsonb, PRIMARY KEY (sku, warehouse_id));
ALTER TABLE inventory REPLICA IDENTITY FULL;
CREATE PUBLICATION agents_pub FOR TABLE orders, support_tickets, inventory;
