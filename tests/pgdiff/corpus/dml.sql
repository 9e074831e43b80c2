-- INSERT, UPDATE, DELETE as applications and ORMs send them: every INSERT shape, defaults,
-- RETURNING, ON CONFLICT, UPDATE/DELETE with expressions and subqueries, and their command tags.

CREATE TABLE items (
    id int PRIMARY KEY,
    name text NOT NULL,
    qty int NOT NULL DEFAULT 0,
    price numeric(10,2) DEFAULT 9.99,
    tag text,
    active boolean DEFAULT true
);

-- Plain inserts
INSERT INTO items VALUES (1, 'apple', 5, 1.25, 'fruit', true);
INSERT INTO items (id, name) VALUES (2, 'bread');
INSERT INTO items (id, name, qty) VALUES (3, 'cheese', 7), (4, 'dates', 0), (5, 'eggs', 12);
INSERT INTO items (name, id) VALUES ('figs', 6);
SELECT * FROM items ORDER BY id;

-- The DEFAULT keyword and DEFAULT VALUES
INSERT INTO items (id, name, qty, price) VALUES (7, 'grapes', DEFAULT, DEFAULT);
INSERT INTO items VALUES (8, 'honey', DEFAULT, 4.50, DEFAULT, DEFAULT);
INSERT INTO items (id, name, qty) VALUES (9, 'ice', 1), (10, 'jam', DEFAULT);
SELECT id, qty, price, tag, active FROM items WHERE id >= 7 ORDER BY id;

-- Expressions in VALUES
INSERT INTO items (id, name, qty, price) VALUES (11, upper('kale'), 2 * 3, 10.0 / 4);
INSERT INTO items (id, name, qty, price) VALUES (12, 'lem' || 'on', length('abcd'), round(3.14159, 2));
INSERT INTO items (id, name, qty) VALUES (13, 'mango', 13);
INSERT INTO items (id, name, qty, tag) VALUES (14, 'nuts', 3, NULL);
INSERT INTO items (id, name, price) VALUES (15, 'oats', '2.5');
INSERT INTO items (id, name, price) VALUES (16, 'pear', 3.456);
SELECT id, name, qty, price FROM items WHERE id >= 11 ORDER BY id;

-- RETURNING
INSERT INTO items (id, name, qty) VALUES (17, 'quince', 4) RETURNING *;
INSERT INTO items (id, name) VALUES (18, 'rice') RETURNING id;
INSERT INTO items (id, name, qty) VALUES (19, 'salt', 2), (20, 'tea', 3) RETURNING id, qty * 2 AS double_qty;
INSERT INTO items (id, name) VALUES (21, 'udon') RETURNING name, qty, price, active;
INSERT INTO items (id, name) VALUES (22, 'veal') RETURNING id AS new_id, upper(name);
INSERT INTO items (id, name) VALUES (23, 'wasabi');

-- INSERT ... SELECT
CREATE TABLE archive (id int PRIMARY KEY, name text, qty int);
INSERT INTO archive SELECT id, name, qty FROM items WHERE qty > 3;
INSERT INTO archive (id, name) SELECT id + 100, name FROM items WHERE id <= 3 RETURNING id;
INSERT INTO archive SELECT 200, 'literal', 0;
INSERT INTO archive (id, name, qty) SELECT id + 300, name, qty FROM items WHERE false;
SELECT count(*), sum(qty) FROM archive;
SELECT * FROM archive ORDER BY id;

-- Errors
INSERT INTO items (id, name) VALUES (1, 'dup');
INSERT INTO items (id) VALUES (99);
INSERT INTO items (id, name) VALUES (NULL, 'nullid');
INSERT INTO items (id, name, qty) VALUES (97, 'bad', 'notanumber');
INSERT INTO items (id, name, nope) VALUES (96, 'x', 1);
INSERT INTO missing_table VALUES (1);
INSERT INTO items (id, name) VALUES (95);
INSERT INTO items (id, name) VALUES (95, 'a', 1);
INSERT INTO items (id, name) VALUES (94, 'a'), (94, 'b');
INSERT INTO items (id, name, qty) VALUES (93, 'big', 2147483648);
INSERT INTO items (id, name, price) VALUES (92, 'pricey', 123456789012.5);
SELECT count(*) FROM items;

-- ON CONFLICT DO NOTHING
CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL, hits int DEFAULT 0);
INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3);
INSERT INTO kv VALUES ('a', 10) ON CONFLICT DO NOTHING;
INSERT INTO kv VALUES ('a', 10), ('d', 4) ON CONFLICT DO NOTHING;
INSERT INTO kv VALUES ('b', 20) ON CONFLICT (k) DO NOTHING;
INSERT INTO kv VALUES ('e', 5) ON CONFLICT (k) DO NOTHING RETURNING *;
INSERT INTO kv VALUES ('e', 50) ON CONFLICT (k) DO NOTHING RETURNING *;
SELECT * FROM kv ORDER BY k;

-- ON CONFLICT DO UPDATE (upsert)
INSERT INTO kv VALUES ('a', 100) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
INSERT INTO kv VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET hits = kv.hits + 1;
INSERT INTO kv VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET hits = kv.hits + 1 RETURNING k, v, hits;
INSERT INTO kv VALUES ('f', 6) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v RETURNING *;
INSERT INTO kv VALUES ('b', 7), ('g', 8) ON CONFLICT (k) DO UPDATE SET v = kv.v + EXCLUDED.v;
INSERT INTO kv VALUES ('c', 0) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE kv.v > 100;
INSERT INTO kv VALUES ('a', 0) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE kv.v >= 100 RETURNING v;
INSERT INTO kv VALUES ('z', 1) ON CONFLICT (v) DO NOTHING;
INSERT INTO kv VALUES ('a', NULL) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
SELECT * FROM kv ORDER BY k;

-- ON CONFLICT on a unique column other than the primary key
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE NOT NULL, name text, logins int DEFAULT 0);
INSERT INTO users VALUES (1, 'a@x.org', 'Ann'), (2, 'b@x.org', 'Bob');
INSERT INTO users (id, email, name) VALUES (3, 'a@x.org', 'Ann2');
INSERT INTO users (id, email, name) VALUES (3, 'a@x.org', 'Ann2') ON CONFLICT (email) DO NOTHING;
INSERT INTO users (id, email, name) VALUES (3, 'a@x.org', 'Ann2') ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, logins = users.logins + 1 RETURNING id, name, logins;
SELECT * FROM users ORDER BY id;

-- UPDATE
UPDATE items SET qty = qty + 1 WHERE id = 1;
UPDATE items SET qty = qty * 2, price = price + 1 WHERE id IN (2, 3);
UPDATE items SET tag = 'none' WHERE tag IS NULL;
UPDATE items SET active = NOT active WHERE id % 2 = 0;
UPDATE items SET name = name WHERE id = 999;
UPDATE items SET qty = 0 WHERE qty > 100;
UPDATE items SET price = DEFAULT WHERE id = 1;
UPDATE items SET qty = 50, tag = 'multi' WHERE id = 4;
UPDATE items SET qty = (SELECT count(*) FROM archive) WHERE id = 5;
UPDATE items SET qty = qty + 1 WHERE id IN (SELECT id FROM archive WHERE qty > 10);
UPDATE items SET name = upper(name) WHERE id BETWEEN 6 AND 8 RETURNING id, name;
UPDATE items SET qty = qty - 1 WHERE id = 9 RETURNING *;
UPDATE items SET price = CASE WHEN qty > 5 THEN price * 2 ELSE price END WHERE id <= 5;
UPDATE items SET qty = items.qty + 10 WHERE items.id = 10 RETURNING items.qty;
SELECT id, name, qty, price, tag, active FROM items ORDER BY id;

-- UPDATE errors
UPDATE items SET name = NULL WHERE id = 1;
UPDATE items SET id = 2 WHERE id = 1;
UPDATE items SET nope = 1;
UPDATE nope SET x = 1;
UPDATE items SET qty = 'abc' WHERE id = 1;
UPDATE items SET qty = qty / 0 WHERE id = 1;
SELECT id, name, qty FROM items WHERE id <= 2 ORDER BY id;

-- UPDATE of the primary key
UPDATE items SET id = 1000 WHERE id = 23;
SELECT id, name FROM items WHERE id >= 23 ORDER BY id;

-- DELETE
DELETE FROM items WHERE id = 999;
DELETE FROM items WHERE id = 1000;
DELETE FROM items WHERE id IN (21, 22) RETURNING id, name;
DELETE FROM items WHERE qty = 0 RETURNING *;
DELETE FROM items WHERE id IN (SELECT id FROM archive WHERE id < 10);
DELETE FROM items WHERE items.id = 20 RETURNING items.id;
DELETE FROM kv WHERE v > 100;
DELETE FROM kv;
SELECT count(*) FROM kv;
SELECT id, name FROM items ORDER BY id;
DELETE FROM nope;
DELETE FROM items WHERE nope = 1;

-- Serial columns and RETURNING of generated ids
CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL, body text DEFAULT '', views bigint DEFAULT 0);
INSERT INTO posts (title) VALUES ('first') RETURNING id;
INSERT INTO posts (title, body) VALUES ('second', 'hello'), ('third', 'world') RETURNING id, title;
INSERT INTO posts DEFAULT VALUES;
INSERT INTO posts (title) VALUES ('fourth') RETURNING *;
INSERT INTO posts (id, title) VALUES (100, 'explicit id');
INSERT INTO posts (id, title) VALUES (DEFAULT, 'default id') RETURNING id;
SELECT id, title, body, views FROM posts ORDER BY id;
UPDATE posts SET views = views + 1 WHERE title LIKE 's%';
UPDATE posts SET views = views + 1 RETURNING id, views;
SELECT id, views FROM posts ORDER BY id;

-- Types in DML
CREATE TABLE events (id bigint PRIMARY KEY, at timestamp, day date, payload jsonb, ok boolean, score double precision, uid uuid);
INSERT INTO events VALUES (1, '2024-01-02 03:04:05', '2024-01-02', '{"a": 1}', true, 1.5, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
INSERT INTO events VALUES (2, timestamp '2024-02-03 10:00' + interval '1 hour', date '2024-02-03' + 1, '[1, 2]', 'yes', 2.25, NULL);
INSERT INTO events (id, payload) VALUES (7, '{"c": [1, 2]}'::jsonb);
DELETE FROM events WHERE id = 7;
INSERT INTO events (id, ok) VALUES (3, 'f') RETURNING *;
UPDATE events SET at = at + interval '1 day', score = score * 2 WHERE id = 1 RETURNING at, score;
UPDATE events SET payload = '{"b": true}' WHERE payload IS NULL;
SELECT id, at, day, payload, ok, score, uid FROM events ORDER BY id;
INSERT INTO events (id, day) VALUES (4, 'not a date');
INSERT INTO events (id, uid) VALUES (5, 'not-a-uuid');
INSERT INTO events (id, payload) VALUES (6, '{bad json');

-- Parameter-free prepared-style ORM statements
INSERT INTO users (id, email, name) VALUES (10, 'c@x.org', 'Cy') RETURNING users.id;
UPDATE users SET name='Cyrus' WHERE users.id = 10;
DELETE FROM users WHERE users.id = 10;
SELECT users.id AS users_id, users.email AS users_email FROM users WHERE users.id = 1;

-- Table aliases in INSERT, UPDATE, DELETE and ON CONFLICT (their own table: a failure here
-- must not change what later statements see)
CREATE TABLE al (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO al VALUES (1, 1), (2, 2), (3, 3);
INSERT INTO al AS a (id, n) VALUES (4, 4) RETURNING a.id, a.n;
INSERT INTO al AS t VALUES (1, 40) ON CONFLICT (id) DO UPDATE SET n = t.n * 10;
UPDATE al AS a SET n = a.n + 10 WHERE a.id = 2 RETURNING a.n;
DELETE FROM al AS a WHERE a.id = 3 RETURNING a.id;
SELECT * FROM al ORDER BY id;

-- Scalar subqueries in VALUES, generate_series as a source, row-valued SET, duplicate keys
-- inside one upsert
CREATE TABLE misc (id int PRIMARY KEY, a int, b text);
INSERT INTO misc VALUES (1, 10, 'x'), (2, 20, 'y');
INSERT INTO misc (id, a) VALUES (3, (SELECT max(a) FROM misc) + 1);
INSERT INTO misc (id, a, b) SELECT g, g, 'gen' || g FROM generate_series(400, 402) g;
INSERT INTO misc (id, a, b) SELECT g, g * 2, 'g' FROM generate_series(500, 502) AS s(g);
UPDATE misc SET (a, b) = (99, 'row') WHERE id = 1;
UPDATE misc SET a = (SELECT count(*) FROM misc) WHERE id = 2;
INSERT INTO misc VALUES (9, 1, 'h'), (9, 2, 'h') ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a;
WITH moved AS (DELETE FROM misc WHERE id >= 500 RETURNING id) SELECT count(*) FROM moved;
SELECT * FROM misc ORDER BY id;

-- varchar(n): the declared type and the length check
CREATE TABLE codes (code varchar(8) PRIMARY KEY, label char(4), note varchar);
INSERT INTO codes VALUES ('abc', 'x', 'free text');
INSERT INTO codes VALUES ('abcdefghijk', 'y', NULL);
INSERT INTO codes VALUES ('ok', 'toolong', NULL);
INSERT INTO codes VALUES ('pad     ', 'ab', NULL);
UPDATE codes SET code = 'waytoolongcode' WHERE code = 'abc';
SELECT code, label, note, length(label) FROM codes ORDER BY code;

-- UPDATE ... FROM and DELETE ... USING (PostgreSQL extensions)
CREATE TABLE stock (id int PRIMARY KEY, price numeric(10,2), qty int);
INSERT INTO stock VALUES (1, 1.00, 0), (2, 2.00, 5), (3, 3.00, 0);
CREATE TABLE price_changes (item_id int PRIMARY KEY, new_price numeric(10,2));
INSERT INTO price_changes VALUES (1, 0.99), (2, 1.99), (500, 5.00);
UPDATE stock SET price = pc.new_price FROM price_changes pc WHERE stock.id = pc.item_id;
UPDATE stock SET price = pc.new_price + 1 FROM price_changes pc WHERE stock.id = pc.item_id RETURNING stock.id, stock.price;
UPDATE stock SET qty = qty + 1 WHERE id IN (SELECT item_id FROM price_changes);
UPDATE stock SET price = 0 WHERE EXISTS (SELECT 1 FROM price_changes WHERE item_id = stock.id AND new_price > 1);
SELECT * FROM stock ORDER BY id;
DELETE FROM price_changes USING stock WHERE price_changes.item_id = stock.id AND stock.qty = 1;
DELETE FROM price_changes WHERE item_id NOT IN (SELECT id FROM stock);
SELECT * FROM price_changes ORDER BY item_id;
