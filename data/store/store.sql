-- A small web store's `public` schema: the source of the postgres_schema_to_duckdb library recipe.
-- Deterministic (generate_series and arithmetic only): 200 customers, 40 products, 500 orders,
-- 1,250 order items, the same on every server. Every table has `updated_at`, so copies are incremental.
DROP TABLE IF EXISTS order_items;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (
    id          integer PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text NOT NULL,
    country     text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO customers
SELECT g,
       'customer' || g || '@example.com',
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara'])[1 + g % 5] || ' ' ||
       (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth'])[1 + g % 6],
       (ARRAY['DE', 'FR', 'US', 'JP', 'BR'])[1 + (g * 7) % 5],
       timestamptz '2025-01-01 00:00:00+00' + g * interval '5 hours',
       timestamptz '2025-01-01 00:00:00+00' + g * interval '5 hours' + interval '10 minutes'
FROM generate_series(1, 200) AS g;
CREATE TABLE products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    title       text NOT NULL,
    price       numeric(8, 2) NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL
);
INSERT INTO products
SELECT g,
       'SKU-' || lpad(g::text, 4, '0'),
       (ARRAY['Pen', 'Notebook', 'Ink', 'Pencil'])[1 + g % 4] || ' model ' || g,
       round(2.5 + (g % 13) * 1.75, 2),
       CASE WHEN g % 3 = 0 THEN ARRAY['gift'] ELSE '{}' END,
       timestamptz '2024-12-01 00:00:00+00' + g * interval '1 day'
FROM generate_series(1, 40) AS g;
CREATE TABLE orders (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL REFERENCES customers (id),
    status       text NOT NULL,
    details      jsonb,
    ordered_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
INSERT INTO orders
SELECT g,
       1 + (g * 37) % 200,
       (ARRAY['paid', 'shipped', 'delivered', 'refunded'])[1 + g % 4],
       jsonb_build_object('channel', (ARRAY['web', 'app', 'phone'])[1 + g % 3], 'gift', g % 10 = 0),
       timestamptz '2025-02-01 00:00:00+00' + g * interval '3 hours',
       timestamptz '2025-02-01 00:00:00+00' + g * interval '3 hours' + interval '2 days'
FROM generate_series(1, 500) AS g;
CREATE TABLE order_items (
    order_id    integer NOT NULL REFERENCES orders (id),
    line        integer NOT NULL,
    product_id  integer NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, line)
);
INSERT INTO order_items
SELECT o, l, 1 + (o * 11 + l * 3) % 40, 1 + (o + l) % 4,
       timestamptz '2025-02-01 00:00:00+00' + o * interval '3 hours' + interval '2 days'
FROM generate_series(1, 500) AS o, generate_series(1, 2 + o % 2) AS l;
