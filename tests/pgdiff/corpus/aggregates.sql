-- Aggregates: the common functions, DISTINCT, FILTER, GROUP BY forms, HAVING, empty inputs,
-- NULLs, and the names and types of the result columns.
CREATE TABLE orders (id int PRIMARY KEY, customer text, region text, amount numeric(10,2), qty int, big bigint, small smallint, score float8, paid boolean, note text);
CREATE TABLE empty_orders (id int, amount numeric, qty int, paid boolean, note text, score float8);
INSERT INTO orders VALUES
  (1, 'ann', 'north', 10.50, 2, 100, 1, 1.5, true, 'first'),
  (2, 'bob', 'south', 20.00, 1, 200, 2, 2.5, false, NULL),
  (3, 'ann', 'north', -5.25, 3, -300, 3, NULL, true, 'refund'),
  (4, 'cid', NULL, 7.75, NULL, 9000000000, -4, 0.25, NULL, 'x'),
  (5, 'bob', 'south', 20.00, 1, 200, 5, 2.5, true, 'dup'),
  (6, NULL, 'east', NULL, 4, NULL, NULL, -1.0, false, ''),
  (7, 'dee', 'east', 0.00, 0, 0, 0, 0, true, 'zero'),
  (8, 'ann', 'west', 100.10, 10, 1, 1, 10.0, false, 'big');

-- basic aggregates and their result names and types
SELECT count(*) FROM orders;
SELECT count(amount), count(region), count(note), count(paid) FROM orders;
SELECT count(1), count(NULL) FROM orders;
SELECT sum(qty), sum(amount), sum(big), sum(small) FROM orders;
SELECT avg(qty), avg(amount), avg(big), avg(small) FROM orders;
SELECT min(qty), max(qty), min(amount), max(amount), min(customer), max(customer) FROM orders;
SELECT min(big), max(big), min(small), max(small) FROM orders;
SELECT sum(score), min(score), max(score) FROM orders;
SELECT avg(score) FROM orders;
SELECT bool_and(paid), bool_or(paid), every(paid) FROM orders;
SELECT bool_and(paid) FROM orders WHERE paid;
SELECT string_agg(customer, ',' ORDER BY id) FROM orders;
SELECT string_agg(DISTINCT customer, '|' ORDER BY customer) FROM orders;
SELECT string_agg(note, '') FROM orders WHERE id IN (1, 2, 6);
SELECT array_agg(id ORDER BY id) FROM orders;
SELECT array_agg(customer ORDER BY id) FROM orders;
SELECT array_agg(amount ORDER BY id DESC) FROM orders WHERE id < 5;
SELECT array_agg(DISTINCT region ORDER BY region) FROM orders;
SELECT count(*) AS n, sum(amount) AS total, max(id) AS last_id FROM orders;
SELECT sum(amount) total FROM orders;
SELECT sum(qty) + 1 FROM orders;
SELECT sum(qty) * 2 AS doubled, count(*) - 1 FROM orders;
SELECT max(amount) - min(amount) AS spread FROM orders;
SELECT sum(amount) / count(amount) FROM orders;
SELECT round(avg(amount), 2) FROM orders;
SELECT sum(qty)::numeric / count(*) AS ratio FROM orders;
SELECT count(*)::int FROM orders;
SELECT sum(qty::bigint) FROM orders;
SELECT sum(DISTINCT amount), count(DISTINCT amount), avg(DISTINCT qty) FROM orders;
SELECT count(DISTINCT customer), count(DISTINCT region), count(DISTINCT paid) FROM orders;
SELECT count(DISTINCT (customer, region)) FROM orders;

-- empty tables and all-NULL inputs
SELECT count(*), count(amount), sum(amount), avg(amount), min(amount), max(amount) FROM empty_orders;
SELECT sum(qty), avg(qty), bool_and(paid), bool_or(paid), string_agg(note, ','), array_agg(id) FROM empty_orders;
SELECT sum(score), avg(score) FROM empty_orders;
SELECT count(*) FROM empty_orders GROUP BY qty;
SELECT qty, count(*) FROM empty_orders GROUP BY qty;
SELECT count(*) FROM orders WHERE false;
SELECT sum(amount) FROM orders WHERE id = 6;
SELECT coalesce(sum(amount), 0) FROM empty_orders;
SELECT coalesce(max(id), 0) + 1 AS next_id FROM empty_orders;
SELECT count(*) FROM empty_orders HAVING count(*) > 0;
SELECT 1 AS one FROM empty_orders HAVING true;
SELECT count(*) FROM orders HAVING count(*) > 3;

-- FILTER
SELECT count(*) FILTER (WHERE paid) AS paid_n, count(*) FILTER (WHERE NOT paid) AS unpaid_n FROM orders;
SELECT sum(amount) FILTER (WHERE region = 'north'), sum(amount) FILTER (WHERE region IS NULL) FROM orders;
SELECT region, count(*) FILTER (WHERE amount > 10) FROM orders GROUP BY region ORDER BY region NULLS FIRST;
SELECT array_agg(id ORDER BY id) FILTER (WHERE qty > 1) FROM orders;
SELECT avg(qty) FILTER (WHERE customer = 'ann') FROM orders;
SELECT count(DISTINCT customer) FILTER (WHERE paid) FROM orders;

-- GROUP BY forms
SELECT customer, count(*), sum(amount) FROM orders GROUP BY customer ORDER BY customer NULLS LAST;
SELECT region, customer, sum(qty) FROM orders GROUP BY region, customer ORDER BY region, customer;
SELECT region, count(*) FROM orders GROUP BY 1 ORDER BY 1;
SELECT region, customer, count(*) FROM orders GROUP BY 2, 1 ORDER BY 1, 2;
SELECT upper(customer) AS c, count(*) FROM orders GROUP BY upper(customer) ORDER BY c;
SELECT upper(customer) AS c, count(*) FROM orders GROUP BY c ORDER BY c;
SELECT qty % 2 AS parity, count(*) FROM orders GROUP BY qty % 2 ORDER BY parity NULLS FIRST;
SELECT amount > 10 AS large, count(*) FROM orders GROUP BY amount > 10 ORDER BY 1;
SELECT CASE WHEN qty >= 3 THEN 'many' ELSE 'few' END AS bucket, count(*) FROM orders GROUP BY 1 ORDER BY 1;
SELECT paid, count(*) FROM orders GROUP BY paid ORDER BY paid;
SELECT paid, sum(amount) FROM orders GROUP BY paid ORDER BY paid DESC NULLS LAST;
SELECT customer FROM orders GROUP BY customer ORDER BY customer;
SELECT id, customer FROM orders GROUP BY id ORDER BY id;
SELECT region, count(*) FROM orders GROUP BY region, region ORDER BY region;
SELECT count(*) FROM orders GROUP BY ();
SELECT score, count(*) FROM orders GROUP BY score ORDER BY score;
SELECT customer, max(amount) - min(amount) FROM orders GROUP BY customer ORDER BY customer;
SELECT customer, count(*) FROM orders GROUP BY customer ORDER BY count(*) DESC, customer;
SELECT customer, sum(qty) AS s FROM orders GROUP BY customer ORDER BY s DESC NULLS LAST, customer LIMIT 2;
SELECT region, string_agg(customer, ', ' ORDER BY customer) FROM orders GROUP BY region ORDER BY region;
SELECT region, array_agg(id ORDER BY id) FROM orders GROUP BY region ORDER BY region NULLS LAST;
SELECT region, bool_and(paid), bool_or(paid) FROM orders GROUP BY region ORDER BY region;
SELECT date_trunc('day', timestamp '2024-01-02 10:00') AS d, count(*) FROM orders GROUP BY 1;

-- HAVING
SELECT customer, count(*) FROM orders GROUP BY customer HAVING count(*) > 1 ORDER BY customer;
SELECT customer, sum(amount) FROM orders GROUP BY customer HAVING sum(amount) > 20 ORDER BY customer;
SELECT region FROM orders GROUP BY region HAVING min(qty) >= 1 ORDER BY region;
SELECT region, count(*) FROM orders GROUP BY region HAVING region LIKE '%th' ORDER BY region;
SELECT customer FROM orders GROUP BY customer HAVING bool_and(paid) ORDER BY customer;
SELECT customer FROM orders GROUP BY customer HAVING count(*) FILTER (WHERE paid) >= 1 ORDER BY 1;
SELECT customer, avg(amount) FROM orders GROUP BY customer HAVING avg(amount) BETWEEN 0 AND 50 ORDER BY customer;
SELECT count(*) FROM orders HAVING sum(qty) > 100;

-- aggregates in expressions and subqueries
SELECT (SELECT max(amount) FROM orders) AS top;
SELECT id FROM orders WHERE amount = (SELECT max(amount) FROM orders);
SELECT id, amount FROM orders WHERE amount > (SELECT avg(amount) FROM orders) ORDER BY id;
SELECT count(*) FROM (SELECT customer FROM orders GROUP BY customer) s;
SELECT max(c) FROM (SELECT customer, count(*) AS c FROM orders GROUP BY customer) s;
SELECT sum(amount), sum(amount) FILTER (WHERE amount > 0) FROM orders;
SELECT customer, sum(amount) * 100 / (SELECT sum(amount) FROM orders) AS pct FROM orders WHERE customer IS NOT NULL GROUP BY customer ORDER BY customer;
SELECT count(*) = 8 AS ok FROM orders;
SELECT max(id) AS m, min(id) AS m FROM orders;
SELECT sum(x) FROM (VALUES (1), (2), (3)) t(x);
SELECT avg(x) FROM (VALUES (1), (2)) t(x);
SELECT sum(x), avg(x) FROM (VALUES (1.5), (2.25)) t(x);
SELECT max(x), min(x) FROM (VALUES ('b'), ('a'), ('c')) t(x);
SELECT sum(2147483647), count(*) FROM generate_series(1, 3);
SELECT sum(9223372036854775807::bigint) FROM generate_series(1, 2);
SELECT avg(i), sum(i) FROM generate_series(1, 100) i;
SELECT count(*) FROM generate_series(1, 1000) i WHERE i % 7 = 0;
SELECT stddev(qty)::numeric(10,4), variance(qty)::numeric(10,4) FROM orders;
SELECT bit_and(qty), bit_or(qty) FROM orders;

-- errors
SELECT customer, count(*) FROM orders;
SELECT customer, amount, sum(qty) FROM orders GROUP BY customer;
SELECT id, count(*) FROM orders GROUP BY customer;
SELECT count(*) FROM orders GROUP BY 5;
SELECT count(*) FROM orders GROUP BY 0;
SELECT sum(customer) FROM orders;
SELECT avg(note) FROM orders;
SELECT count(*) FROM orders WHERE count(*) > 1;
SELECT sum(count(*)) FROM orders;
SELECT nosuch(amount) FROM orders;
SELECT sum(nosuch) FROM orders;
SELECT customer FROM orders GROUP BY nosuch;
SELECT customer FROM orders HAVING amount > 1;
SELECT bool_and(qty) FROM orders;
SELECT count(*) FROM orders GROUP BY count(*);
SELECT customer FROM orders GROUP BY customer ORDER BY amount;
SELECT string_agg(id, ',') FROM orders;
SELECT sum(qty) FROM orders GROUP BY customer HAVING nosuch > 1;
SELECT sum(9223372036854775807::bigint + 1) FROM orders;
