-- Window functions: ranking, offsets, aggregates over partitions, frames, ntile, first/last value.
CREATE TABLE sales (id int PRIMARY KEY, rep text, region text, month int, amount numeric(10,2), units int, ratio float8);
CREATE TABLE no_sales (id int, rep text, amount numeric);
INSERT INTO sales VALUES
  (1, 'ann', 'north', 1, 100.00, 10, 0.5),
  (2, 'ann', 'north', 2, 150.00, 15, 0.25),
  (3, 'ann', 'north', 3, 150.00, NULL, 1.0),
  (4, 'bob', 'south', 1, 80.00, 8, NULL),
  (5, 'bob', 'south', 2, NULL, 4, 2.0),
  (6, 'bob', 'south', 3, 120.50, 12, 0.75),
  (7, 'cat', 'north', 1, -20.00, -2, 0),
  (8, 'cat', 'north', 2, 200.00, 20, 1.5),
  (9, 'dan', NULL, 1, 50.00, 5, 0.125),
  (10, 'dan', NULL, 2, 50.00, 5, 0.125);

-- ranking
SELECT id, row_number() OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, row_number() OVER (ORDER BY amount DESC NULLS LAST, id) AS rn FROM sales ORDER BY rn;
SELECT id, rep, row_number() OVER (PARTITION BY rep ORDER BY month) AS rn FROM sales ORDER BY id;
SELECT id, amount, rank() OVER (ORDER BY amount DESC) FROM sales ORDER BY id;
SELECT id, amount, dense_rank() OVER (ORDER BY amount DESC) FROM sales ORDER BY id;
SELECT id, amount, rank() OVER w, dense_rank() OVER w, row_number() OVER (ORDER BY amount, id) FROM sales WINDOW w AS (ORDER BY amount) ORDER BY id;
SELECT id, region, rank() OVER (PARTITION BY region ORDER BY amount DESC NULLS LAST) FROM sales ORDER BY id;
SELECT id, percent_rank() OVER (ORDER BY units) FROM sales ORDER BY id;
SELECT id, cume_dist() OVER (ORDER BY month) FROM sales ORDER BY id;
SELECT id, ntile(3) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, ntile(4) OVER (PARTITION BY rep ORDER BY id) FROM sales ORDER BY id;
SELECT id, ntile(20) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT rep, month FROM (SELECT rep, month, row_number() OVER (PARTITION BY rep ORDER BY amount DESC NULLS LAST, month) AS rn FROM sales) t WHERE rn = 1 ORDER BY rep;
SELECT * FROM (SELECT id, rank() OVER (ORDER BY amount DESC NULLS LAST) AS r FROM sales) t WHERE r <= 3 ORDER BY r, id;

-- lag / lead
SELECT id, amount, lag(amount) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, amount, lead(amount) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, lag(amount, 2) OVER (ORDER BY id), lead(amount, 2) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, lag(amount, 1, 0) OVER (PARTITION BY rep ORDER BY month) FROM sales ORDER BY id;
SELECT id, lead(units, 1, -1) OVER (PARTITION BY rep ORDER BY month) FROM sales ORDER BY id;
SELECT id, amount - lag(amount) OVER (PARTITION BY rep ORDER BY month) AS delta FROM sales ORDER BY id;
SELECT id, lag(rep) OVER (ORDER BY id) AS prev_rep, lead(rep) OVER (ORDER BY id) AS next_rep FROM sales ORDER BY id;
SELECT id, lag(ratio) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, lag(id, 0) OVER (ORDER BY id) FROM sales ORDER BY id;

-- aggregates over windows
SELECT id, rep, sum(amount) OVER (PARTITION BY rep) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER () AS total FROM sales ORDER BY id;
SELECT id, count(*) OVER () FROM sales ORDER BY id;
SELECT id, count(amount) OVER (PARTITION BY region) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id) AS running FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (PARTITION BY rep ORDER BY month) AS running FROM sales ORDER BY id;
SELECT id, sum(units) OVER (ORDER BY amount) FROM sales ORDER BY id;
SELECT id, avg(amount) OVER (PARTITION BY rep) FROM sales ORDER BY id;
SELECT id, min(amount) OVER (PARTITION BY region), max(amount) OVER (PARTITION BY region) FROM sales ORDER BY id;
SELECT id, amount, amount * 100 / sum(amount) OVER (PARTITION BY rep) AS pct FROM sales ORDER BY id;
SELECT id, sum(units) OVER (PARTITION BY rep), sum(units) OVER (PARTITION BY region) FROM sales ORDER BY id;
SELECT rep, sum(amount), sum(sum(amount)) OVER (ORDER BY rep) FROM sales GROUP BY rep ORDER BY rep;
SELECT rep, count(*), rank() OVER (ORDER BY count(*) DESC, rep) FROM sales GROUP BY rep ORDER BY rep;
SELECT region, sum(amount) AS s, row_number() OVER (ORDER BY sum(amount) DESC NULLS LAST) FROM sales GROUP BY region ORDER BY region NULLS FIRST;
SELECT id, sum(ratio) OVER (PARTITION BY rep) FROM sales ORDER BY id;
SELECT id, bool_and(units > 0) OVER (PARTITION BY rep) FROM sales ORDER BY id;
SELECT id, array_agg(id) OVER (PARTITION BY rep ORDER BY id) FROM sales ORDER BY id;
SELECT id, string_agg(rep, ',') OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales ORDER BY id;

-- frames
SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id ROWS 2 PRECEDING) FROM sales ORDER BY id;
SELECT id, count(*) OVER (ORDER BY month RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM sales ORDER BY id;
SELECT id, count(*) OVER (ORDER BY month, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM sales ORDER BY id;
SELECT id, sum(units) OVER (ORDER BY month RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales ORDER BY id;
SELECT id, sum(units) OVER (ORDER BY month GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales ORDER BY id;
SELECT id, avg(amount) OVER (PARTITION BY rep ORDER BY month ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving FROM sales ORDER BY id;
SELECT id, max(amount) OVER (ORDER BY id ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING) FROM sales ORDER BY id;
SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) FROM sales ORDER BY id;

-- first_value / last_value / nth_value
SELECT id, first_value(amount) OVER (PARTITION BY rep ORDER BY month) FROM sales ORDER BY id;
SELECT id, last_value(amount) OVER (PARTITION BY rep ORDER BY month) FROM sales ORDER BY id;
SELECT id, last_value(amount) OVER (PARTITION BY rep ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM sales ORDER BY id;
SELECT id, first_value(rep) OVER (ORDER BY amount DESC NULLS LAST, id) FROM sales ORDER BY id;
SELECT id, nth_value(amount, 2) OVER (PARTITION BY rep ORDER BY month) FROM sales ORDER BY id;
SELECT id, nth_value(id, 3) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM sales ORDER BY id;
SELECT DISTINCT rep, first_value(month) OVER (PARTITION BY rep ORDER BY amount DESC NULLS LAST, month) AS best_month FROM sales ORDER BY rep;

-- window definitions, naming and types
SELECT id, sum(amount) OVER w FROM sales WINDOW w AS (PARTITION BY rep ORDER BY month) ORDER BY id;
SELECT id, sum(amount) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales WINDOW w AS (PARTITION BY rep ORDER BY month) ORDER BY id;
SELECT id, rank() OVER w, lag(id) OVER w FROM sales WINDOW w AS (ORDER BY region NULLS FIRST, id) ORDER BY id;
SELECT row_number() OVER () IS NOT NULL AS ok FROM sales WHERE id = 1;
SELECT id, row_number() OVER (ORDER BY id) AS rn, rank() OVER (ORDER BY id) AS rk FROM sales WHERE id < 3 ORDER BY id;
SELECT id, row_number() OVER (ORDER BY id) + 100 FROM sales ORDER BY id;
SELECT id, row_number() OVER (PARTITION BY region ORDER BY id) FROM sales WHERE region IS NULL ORDER BY id;
SELECT id, row_number() OVER (ORDER BY id) FROM no_sales;
SELECT count(*) OVER () FROM no_sales;
SELECT id, sum(amount) OVER (ORDER BY id) FROM sales WHERE id > 100;
SELECT id, row_number() OVER (ORDER BY id DESC) FROM sales ORDER BY id DESC;
SELECT id, row_number() OVER (ORDER BY id) FROM sales ORDER BY id LIMIT 3 OFFSET 2;
SELECT id, row_number() OVER (PARTITION BY month % 2 ORDER BY id) FROM sales ORDER BY id;
SELECT id, rank() OVER (PARTITION BY amount IS NULL ORDER BY rep, id) FROM sales ORDER BY id;
SELECT x, sum(x) OVER (ORDER BY x) FROM (VALUES (1), (2), (2), (3)) t(x) ORDER BY x;
SELECT x, row_number() OVER (ORDER BY x DESC) FROM generate_series(1, 5) x ORDER BY x;
SELECT x, lag(x) OVER (ORDER BY x), x - lag(x) OVER (ORDER BY x) FROM (VALUES (1.5), (4.0), (10.25)) t(x) ORDER BY x;
SELECT month, sum(amount) AS total, sum(sum(amount)) OVER (ORDER BY month) AS cumulative FROM sales GROUP BY month ORDER BY month;

-- errors
SELECT id FROM sales WHERE row_number() OVER (ORDER BY id) = 1;
SELECT rep, count(*) FROM sales GROUP BY row_number() OVER ();
SELECT id, sum(amount) OVER w FROM sales;
SELECT id, nosuch() OVER (ORDER BY id) FROM sales;
SELECT id, ntile(0) OVER (ORDER BY id) FROM sales;
SELECT id, lag(amount, -1) OVER (ORDER BY id) FROM sales ORDER BY id;
SELECT id, row_number(id) OVER (ORDER BY id) FROM sales;
SELECT id, rank() OVER (ORDER BY nosuch) FROM sales;
SELECT id, sum(amount) OVER (PARTITION BY rep) FROM sales GROUP BY rep;
SELECT id, row_number() FROM sales;
SELECT id, sum(row_number() OVER (ORDER BY id)) OVER () FROM sales;
SELECT id, nth_value(id, 0) OVER (ORDER BY id) FROM sales;
SELECT id, sum(units) OVER (ORDER BY rep RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales;
SELECT id, sum(units) OVER (ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW) FROM sales;
SELECT id FROM sales HAVING rank() OVER (ORDER BY id) > 1;
