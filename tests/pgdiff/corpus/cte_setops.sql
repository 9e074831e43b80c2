-- WITH and WITH RECURSIVE, set operations, VALUES lists, ORDER BY/LIMIT/OFFSET, DISTINCT, DISTINCT ON.
CREATE TABLE products (id int PRIMARY KEY, name text, category text, price numeric(8,2), stock int, rating float8);
CREATE TABLE legacy_products (id int, name text, category text, price numeric(8,2));
CREATE TABLE tree (id int PRIMARY KEY, parent_id int, label text);
CREATE TABLE none_here (id int, name text);
INSERT INTO products VALUES
  (1, 'apple', 'fruit', 1.20, 50, 4.5),
  (2, 'banana', 'fruit', 0.50, 0, 3.0),
  (3, 'carrot', 'veg', 0.80, 20, NULL),
  (4, 'donut', 'bakery', 2.00, 5, 4.5),
  (5, 'eclair', 'bakery', 3.50, NULL, 5.0),
  (6, 'fig', 'fruit', 2.00, 7, 2.5),
  (7, 'garlic', NULL, 0.30, 100, 4.0),
  (8, 'apple', 'fruit', 1.10, 3, 4.0);
INSERT INTO legacy_products VALUES (1, 'apple', 'fruit', 1.20), (9, 'ham', 'deli', 5.00), (9, 'ham', 'deli', 5.00), (3, 'carrot', 'veg', 0.85), (10, NULL, NULL, NULL);
INSERT INTO tree VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'a1'), (5, 2, 'a2'), (6, 4, 'a1x'), (7, NULL, 'other');

-- WITH
WITH cheap AS (SELECT * FROM products WHERE price < 1) SELECT name FROM cheap ORDER BY name;
WITH c AS (SELECT category, count(*) AS n FROM products GROUP BY category) SELECT * FROM c ORDER BY category NULLS FIRST;
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM a, b;
WITH totals(cat, total) AS (SELECT category, sum(price) FROM products GROUP BY category) SELECT cat, total FROM totals WHERE total > 2 ORDER BY cat;
WITH c AS (SELECT category, avg(price) AS avgp FROM products GROUP BY category) SELECT p.name, p.price, c.avgp FROM products p JOIN c USING (category) WHERE p.price > c.avgp ORDER BY p.id;
WITH x AS (SELECT id FROM products) SELECT count(*) FROM x a, x b;
WITH x AS MATERIALIZED (SELECT id FROM products WHERE stock > 10) SELECT * FROM x ORDER BY id;
WITH x AS NOT MATERIALIZED (SELECT id FROM products WHERE stock > 10) SELECT * FROM x ORDER BY id;
WITH empty AS (SELECT * FROM none_here) SELECT count(*) FROM empty;
WITH v(n) AS (VALUES (1), (2), (3)) SELECT sum(n) FROM v;
WITH outer_cte AS (WITH inner_cte AS (SELECT 5 AS v) SELECT v * 2 AS v FROM inner_cte) SELECT v FROM outer_cte;
SELECT * FROM (WITH t AS (SELECT 7 AS seven) SELECT seven FROM t) s;
WITH t AS (SELECT name, price FROM products) SELECT name FROM t WHERE price = (SELECT max(price) FROM t);

-- WITH RECURSIVE
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n ORDER BY i;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT sum(i), count(*) FROM n;
WITH RECURSIVE fact(n, f) AS (SELECT 1, 1::numeric UNION ALL SELECT n + 1, f * (n + 1) FROM fact WHERE n < 20) SELECT n, f FROM fact ORDER BY n;
WITH RECURSIVE fib(a, b) AS (SELECT 0::bigint, 1::bigint UNION ALL SELECT b, a + b FROM fib WHERE b < 1000) SELECT a FROM fib ORDER BY a;
WITH RECURSIVE sub(id, label, depth) AS (SELECT id, label, 0 FROM tree WHERE id = 1 UNION ALL SELECT t.id, t.label, s.depth + 1 FROM tree t JOIN sub s ON t.parent_id = s.id) SELECT id, label, depth FROM sub ORDER BY id;
WITH RECURSIVE path(id, p) AS (SELECT id, label FROM tree WHERE parent_id IS NULL UNION ALL SELECT t.id, path.p || '/' || t.label FROM tree t JOIN path ON t.parent_id = path.id) SELECT id, p FROM path ORDER BY p;
WITH RECURSIVE anc(id, parent_id) AS (SELECT id, parent_id FROM tree WHERE id = 6 UNION ALL SELECT t.id, t.parent_id FROM tree t JOIN anc ON t.id = anc.parent_id) SELECT id FROM anc ORDER BY id;
WITH RECURSIVE r(x) AS (SELECT 1 UNION SELECT (x % 3) + 1 FROM r) SELECT x FROM r ORDER BY x;
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x * 2 FROM r WHERE x < 1000) SELECT max(x) FROM r;
WITH RECURSIVE cnt AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM cnt WHERE n < 5) SELECT n, n * n AS sq FROM cnt ORDER BY n;
WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t ORDER BY n;
WITH RECURSIVE d(id, depth) AS (SELECT id, 1 FROM tree WHERE parent_id IS NULL UNION ALL SELECT tree.id, d.depth + 1 FROM tree, d WHERE tree.parent_id = d.id) SELECT depth, count(*) FROM d GROUP BY depth ORDER BY depth;

-- UNION / UNION ALL / INTERSECT / EXCEPT
SELECT name FROM products UNION SELECT name FROM legacy_products ORDER BY name;
SELECT name FROM products UNION ALL SELECT name FROM legacy_products ORDER BY name NULLS FIRST;
SELECT name FROM products UNION SELECT name FROM legacy_products;
SELECT name FROM products UNION ALL SELECT name FROM legacy_products;
SELECT name FROM products INTERSECT SELECT name FROM legacy_products ORDER BY name;
SELECT name FROM products INTERSECT ALL SELECT name FROM legacy_products;
SELECT name FROM products EXCEPT SELECT name FROM legacy_products ORDER BY name;
SELECT name FROM products EXCEPT ALL SELECT name FROM legacy_products ORDER BY name;
SELECT name FROM legacy_products EXCEPT SELECT name FROM products;
SELECT id, name FROM products INTERSECT SELECT id, name FROM legacy_products ORDER BY id;
SELECT category FROM products UNION SELECT category FROM legacy_products ORDER BY 1 NULLS LAST;
SELECT 1 UNION SELECT 2 UNION SELECT 1 ORDER BY 1;
SELECT 1 UNION ALL SELECT 1 UNION ALL SELECT 2;
SELECT 1 AS a UNION SELECT 2 ORDER BY a DESC;
SELECT 1 INTERSECT SELECT 1;
SELECT 1 EXCEPT SELECT 1;
SELECT 1 UNION SELECT 2 INTERSECT SELECT 2 ORDER BY 1;
(SELECT 1 UNION SELECT 2) INTERSECT SELECT 2;
SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 1;
SELECT 1 AS x UNION SELECT 2.5 ORDER BY x;
SELECT 1::int UNION SELECT 2::bigint;
SELECT 'a' UNION SELECT 'b' ORDER BY 1;
SELECT NULL UNION SELECT 1;
SELECT NULL UNION SELECT NULL;
SELECT id, price FROM products WHERE price > 2 UNION ALL SELECT id, price FROM legacy_products WHERE price > 2 ORDER BY price DESC, id;
SELECT n FROM ((SELECT name FROM products ORDER BY id LIMIT 2) UNION ALL (SELECT name FROM legacy_products ORDER BY id DESC LIMIT 1)) u(n) ORDER BY n NULLS FIRST;
SELECT name FROM products UNION SELECT name FROM none_here ORDER BY name LIMIT 3;
SELECT count(*) FROM (SELECT name FROM products UNION SELECT name FROM legacy_products) u;
SELECT category, count(*) FROM (SELECT category FROM products UNION ALL SELECT category FROM legacy_products) u GROUP BY category ORDER BY category NULLS FIRST;
SELECT rating FROM products UNION SELECT 4.5::float8 ORDER BY 1;

-- VALUES lists
VALUES (1, 'one'), (2, 'two'), (3, NULL);
VALUES (1, 'one'), (2, 'two') ORDER BY 1 DESC;
VALUES (1), (2.5), (NULL);
VALUES (1::smallint), (2);
SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v;
SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(num, letter) ORDER BY num;
SELECT column1, column2 FROM (VALUES (1, true), (2, false)) v ORDER BY column1;
SELECT max(column1) FROM (VALUES (3), (1), (2)) v;
VALUES ('a', 1) UNION ALL VALUES ('b', 2) ORDER BY 1;
SELECT v.* FROM (VALUES (NULL::int), (NULL)) v(x);
VALUES (1, 2) LIMIT 1;

-- ORDER BY / LIMIT / OFFSET
SELECT id, name FROM products ORDER BY price DESC, id LIMIT 3;
SELECT id, name FROM products ORDER BY price, id OFFSET 5;
SELECT id FROM products ORDER BY id LIMIT 2 OFFSET 2;
SELECT id FROM products ORDER BY id OFFSET 2 ROWS FETCH FIRST 3 ROWS ONLY;
SELECT id FROM products ORDER BY id FETCH FIRST ROW ONLY;
SELECT id FROM products ORDER BY id LIMIT 0;
SELECT id FROM products ORDER BY id LIMIT ALL;
SELECT id FROM products ORDER BY id LIMIT NULL;
SELECT id FROM products ORDER BY id OFFSET 100;
SELECT id, stock FROM products ORDER BY stock NULLS FIRST, id;
SELECT id, stock FROM products ORDER BY stock DESC, id;
SELECT id, stock FROM products ORDER BY stock DESC NULLS LAST, id;
SELECT id, category FROM products ORDER BY category, id;
SELECT id, rating FROM products ORDER BY rating DESC NULLS LAST, id;
SELECT name, price * stock AS value FROM products ORDER BY value DESC NULLS LAST, name, price;
SELECT name FROM products ORDER BY length(name), name, id;
SELECT name AS n FROM products ORDER BY n DESC, id;
SELECT id FROM products ORDER BY name DESC, id;
SELECT id, name FROM products ORDER BY 2, 1;
SELECT category, min(price) FROM products GROUP BY category ORDER BY min(price), category;

-- DISTINCT and DISTINCT ON
SELECT DISTINCT name FROM products ORDER BY name;
SELECT DISTINCT category FROM products;
SELECT DISTINCT category, name FROM products ORDER BY category, name;
SELECT DISTINCT rating FROM products ORDER BY rating;
SELECT count(DISTINCT name), count(name) FROM products;
SELECT DISTINCT ON (name) name, price, id FROM products ORDER BY name, price, id;
SELECT DISTINCT ON (category) category, name, price FROM products ORDER BY category, price DESC, id;
SELECT DISTINCT ON (category) category, id FROM products ORDER BY category NULLS FIRST, id DESC;
SELECT DISTINCT ON (stock > 10) stock > 10 AS plenty, id FROM products ORDER BY stock > 10, id;
SELECT DISTINCT price FROM products WHERE price >= 2 ORDER BY price DESC;
SELECT DISTINCT * FROM legacy_products ORDER BY id, price;
SELECT ALL name FROM products ORDER BY name, id;

-- data-modifying statements around these
INSERT INTO none_here SELECT id, name FROM products UNION SELECT id, name FROM legacy_products WHERE id > 8;
SELECT * FROM none_here ORDER BY id;
INSERT INTO none_here VALUES (100, 'v1'), (101, 'v2');
SELECT count(*) FROM none_here;
WITH moved AS (DELETE FROM none_here WHERE id >= 100 RETURNING id) SELECT count(*) FROM moved;
SELECT count(*) FROM none_here;

-- errors
SELECT id FROM products UNION SELECT id, name FROM products;
SELECT name FROM products UNION SELECT id FROM products;
SELECT id FROM products UNION SELECT id FROM products ORDER BY name;
SELECT id FROM products ORDER BY 3;
SELECT id FROM products ORDER BY nosuch;
SELECT id FROM products LIMIT -1;
SELECT id FROM products OFFSET -1;
SELECT DISTINCT ON (name) id, name FROM products ORDER BY id;
WITH x AS (SELECT 1) SELECT * FROM y;
WITH x AS (SELECT 1 AS a), x AS (SELECT 2 AS a) SELECT * FROM x;
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5 ORDER BY 1) SELECT * FROM r;
WITH x(a, b) AS (SELECT 1) SELECT * FROM x;
VALUES (1, 2), (3);
VALUES (1), ('a');
SELECT * FROM (VALUES (1), (2)) v(a, b);
SELECT DISTINCT name FROM products ORDER BY price;
