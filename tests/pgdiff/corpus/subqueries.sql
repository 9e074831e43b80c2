-- Subqueries: scalar, correlated, EXISTS, IN/NOT IN with NULLs, ANY/ALL, derived tables, LATERAL.
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text, credit numeric(8,2));
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric(10,2), status text, items int);
CREATE TABLE blocked (customer_id int);
CREATE TABLE nothing (customer_id int);
INSERT INTO customers VALUES (1, 'Ada', 'Oslo', 100.00), (2, 'Ben', 'Rome', 0.00), (3, 'Cyd', NULL, -20.50), (4, 'Dan', 'Oslo', NULL), (5, 'Eli', 'Lima', 50.00);
INSERT INTO orders VALUES (10, 1, 99.99, 'shipped', 3), (11, 1, 5.00, 'open', 1), (12, 2, 250.00, 'shipped', 10), (13, 3, 0.00, 'cancelled', 0), (14, NULL, 12.00, 'open', 2), (15, 9, 7.50, NULL, NULL), (16, 2, 250.00, 'open', 4);
INSERT INTO blocked VALUES (3), (NULL);

-- scalar subqueries
SELECT (SELECT count(*) FROM orders);
SELECT (SELECT max(total) FROM orders) AS biggest, (SELECT min(total) FROM orders) AS smallest;
SELECT (SELECT name FROM customers WHERE id = 2);
SELECT (SELECT name FROM customers WHERE id = 42);
SELECT id, total, total - (SELECT avg(total) FROM orders) > 0 AS above FROM orders ORDER BY id;
SELECT name FROM customers WHERE credit = (SELECT max(credit) FROM customers);
SELECT name FROM customers WHERE credit > (SELECT credit FROM customers WHERE id = 5) ORDER BY name;
SELECT name FROM customers WHERE credit > (SELECT credit FROM customers WHERE id = 4) ORDER BY name;
SELECT (SELECT 1) + (SELECT 2) AS three;
SELECT (SELECT id FROM customers ORDER BY id DESC LIMIT 1);
SELECT coalesce((SELECT max(total) FROM orders WHERE status = 'none'), -1);
SELECT * FROM orders WHERE total = (SELECT total FROM orders WHERE id = 12) ORDER BY id;

-- correlated subqueries
SELECT c.name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c ORDER BY c.id;
SELECT c.name, (SELECT sum(o.total) FROM orders o WHERE o.customer_id = c.id) AS spent FROM customers c ORDER BY c.id;
SELECT c.name, (SELECT max(o.id) FROM orders o WHERE o.customer_id = c.id AND o.status = 'open') FROM customers c ORDER BY c.id;
SELECT o.id FROM orders o WHERE o.total > (SELECT avg(o2.total) FROM orders o2 WHERE o2.customer_id = o.customer_id) ORDER BY o.id;
SELECT o.id FROM orders o WHERE o.total = (SELECT max(o2.total) FROM orders o2 WHERE o2.customer_id = o.customer_id) ORDER BY o.id;
SELECT c.name FROM customers c WHERE (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) >= 2 ORDER BY c.name;
SELECT c.name FROM customers c WHERE (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) = 0 ORDER BY c.name;
SELECT c.name, (SELECT o.status FROM orders o WHERE o.customer_id = c.id ORDER BY o.id LIMIT 1) AS first_status FROM customers c ORDER BY c.id;
SELECT c.name FROM customers c ORDER BY (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) DESC, c.id;
SELECT c.city, (SELECT count(*) FROM customers c2 WHERE c2.city = c.city) FROM customers c ORDER BY c.id;
SELECT o.id, (SELECT c.name FROM customers c WHERE c.id = o.customer_id) FROM orders o ORDER BY o.id;
SELECT c.id, (SELECT sum(o.items) FROM orders o WHERE o.customer_id = c.id) * 2 AS double_items FROM customers c ORDER BY c.id;

-- EXISTS / NOT EXISTS
SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY name;
SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY name;
SELECT name FROM customers c WHERE EXISTS (SELECT * FROM orders o WHERE o.customer_id = c.id AND o.status = 'shipped') ORDER BY name;
SELECT EXISTS (SELECT 1 FROM nothing);
SELECT NOT EXISTS (SELECT 1 FROM nothing) AS empty;
SELECT EXISTS (SELECT NULL);
SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE total > 1000) ORDER BY name;
SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM orders) ORDER BY name;
SELECT c.name, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AS has_orders FROM customers c ORDER BY c.id;
SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id) ORDER BY o.id;
SELECT c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'open') ORDER BY 1;

-- IN / NOT IN, with NULLs
SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders) ORDER BY name;
SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders) ORDER BY name;
SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL) ORDER BY name;
SELECT name FROM customers WHERE id IN (SELECT customer_id FROM blocked) ORDER BY name;
SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM blocked) ORDER BY name;
SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM nothing) ORDER BY name;
SELECT name FROM customers WHERE id IN (SELECT customer_id FROM nothing);
SELECT id, id IN (SELECT customer_id FROM blocked) AS b FROM customers ORDER BY id;
SELECT id, id NOT IN (SELECT customer_id FROM blocked) AS nb FROM customers ORDER BY id;
SELECT NULL::int IN (SELECT customer_id FROM nothing);
SELECT NULL::int IN (SELECT id FROM customers);
SELECT 3 IN (SELECT customer_id FROM blocked), 4 IN (SELECT customer_id FROM blocked);
SELECT name FROM customers WHERE (id, city) IN (SELECT id, city FROM customers WHERE city = 'Oslo') ORDER BY name;
SELECT name FROM customers WHERE city IN (SELECT city FROM customers WHERE credit > 60) ORDER BY name;
SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE city = 'Oslo') AND status IN ('open', 'shipped') ORDER BY id;
SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING sum(total) > 100) ORDER BY name;
SELECT o.id FROM orders o WHERE o.total IN (SELECT o2.total FROM orders o2 WHERE o2.id <> o.id) ORDER BY o.id;

-- ANY / ALL
SELECT name FROM customers WHERE id = ANY (SELECT customer_id FROM orders) ORDER BY name;
SELECT name FROM customers WHERE id <> ALL (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL) ORDER BY name;
SELECT name FROM customers WHERE id <> ALL (SELECT customer_id FROM orders) ORDER BY name;
SELECT id FROM orders WHERE total > ALL (SELECT total FROM orders WHERE status = 'open') ORDER BY id;
SELECT id FROM orders WHERE total >= ALL (SELECT total FROM orders) ORDER BY id;
SELECT id FROM orders WHERE total > ANY (SELECT total FROM orders WHERE status = 'open') ORDER BY id;
SELECT id FROM orders WHERE total > ALL (SELECT total FROM orders WHERE false) ORDER BY id;
SELECT id FROM orders WHERE total > SOME (SELECT credit FROM customers) ORDER BY id;
SELECT 5 = ANY (ARRAY[1, 5, 9]), 5 = ALL (ARRAY[5, 5]), 5 < ALL (ARRAY[6, NULL]), 5 > ANY (ARRAY[6, NULL]);
SELECT id FROM customers WHERE id = ANY (ARRAY[2, 4, 99]) ORDER BY id;
SELECT 1 = ANY (SELECT customer_id FROM blocked), 3 = ANY (SELECT customer_id FROM blocked);
SELECT 1 <> ALL (SELECT customer_id FROM nothing);

-- derived tables
SELECT * FROM (SELECT id, name FROM customers WHERE city = 'Oslo') AS oslo ORDER BY id;
SELECT s.customer_id, s.n FROM (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id) s WHERE s.n > 1 ORDER BY s.customer_id;
SELECT avg(n) FROM (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id) s;
SELECT x, y FROM (SELECT id AS x, name AS y FROM customers) t(a, b);
SELECT a, b FROM (SELECT id, name FROM customers) t(a, b) ORDER BY a;
SELECT a FROM (SELECT id, name FROM customers) t(a) ORDER BY a;
SELECT t.* FROM (SELECT 1 AS one, 'two' AS two) t;
SELECT * FROM (SELECT * FROM (SELECT id, total FROM orders WHERE total > 10) a WHERE id > 11) b ORDER BY id;
SELECT c.name, s.spent FROM customers c JOIN (SELECT customer_id, sum(total) AS spent FROM orders GROUP BY customer_id) s ON s.customer_id = c.id ORDER BY c.id;
SELECT * FROM (SELECT name FROM customers ORDER BY name LIMIT 2) s ORDER BY name DESC;
SELECT count(*) FROM (SELECT DISTINCT status FROM orders) s;
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(n, s) WHERE n IN (SELECT id FROM customers) ORDER BY n;
SELECT * FROM (SELECT 1) s;
SELECT * FROM (SELECT id, name FROM customers WHERE false) s;

-- LATERAL
SELECT c.name, l.total FROM customers c, LATERAL (SELECT o.total FROM orders o WHERE o.customer_id = c.id ORDER BY o.total DESC, o.id LIMIT 1) l ORDER BY c.id;
SELECT c.name, l.total FROM customers c LEFT JOIN LATERAL (SELECT o.total FROM orders o WHERE o.customer_id = c.id ORDER BY o.total DESC, o.id LIMIT 1) l ON true ORDER BY c.id;
SELECT c.name, l.n FROM customers c CROSS JOIN LATERAL (SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id) l ORDER BY c.id;
SELECT c.id, g FROM customers c, LATERAL generate_series(1, c.id) g WHERE c.id <= 3 ORDER BY c.id, g;
SELECT c.id, x.doubled FROM customers c, LATERAL (SELECT c.id * 2 AS doubled) x ORDER BY c.id;

-- subqueries in other statements
CREATE TABLE archive (id int, customer_id int, total numeric(10,2));
INSERT INTO archive SELECT id, customer_id, total FROM orders WHERE status = 'shipped';
SELECT * FROM archive ORDER BY id;
UPDATE orders SET status = 'vip' WHERE customer_id IN (SELECT id FROM customers WHERE credit >= 100);
SELECT id, status FROM orders ORDER BY id;
UPDATE customers SET credit = (SELECT coalesce(sum(total), 0) FROM orders o WHERE o.customer_id = customers.id) WHERE city = 'Oslo';
SELECT id, credit FROM customers ORDER BY id;
DELETE FROM orders WHERE customer_id NOT IN (SELECT id FROM customers);
SELECT id FROM orders ORDER BY id;
DELETE FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id);
SELECT id FROM orders ORDER BY id;

-- errors
SELECT (SELECT id FROM customers);
SELECT (SELECT id, name FROM customers WHERE id = 1);
SELECT name FROM customers WHERE id = (SELECT customer_id FROM orders);
SELECT * FROM (SELECT id FROM customers);
SELECT name FROM customers WHERE id IN (SELECT id, name FROM customers);
SELECT name FROM customers WHERE id IN (SELECT nosuch FROM orders);
SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM nosuch);
SELECT s.name FROM (SELECT id FROM customers) s;
SELECT name FROM customers WHERE name = ANY (SELECT id FROM customers);
SELECT * FROM (SELECT id, name FROM customers) t(a, b, c);
SELECT c.name, l.x FROM customers c, (SELECT c.id AS x) l;
SELECT (SELECT 1 UNION SELECT 2);
SELECT id FROM customers WHERE id > ALL (SELECT name FROM customers);
