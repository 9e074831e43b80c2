-- Expressions: CASE, COALESCE, NULLIF, GREATEST/LEAST, three-valued logic, IS DISTINCT FROM,
-- BETWEEN, IN lists, operator precedence, names of unnamed columns, casts.
CREATE TABLE t (id int PRIMARY KEY, a int, b int, n numeric(10,3), s text, f float8, flag boolean, big bigint, sm smallint);
INSERT INTO t VALUES
  (1, 1, 2, 1.500, 'alpha', 1.5, true, 10000000000, 1),
  (2, NULL, 5, -2.250, 'Beta', NULL, false, -1, -2),
  (3, 7, NULL, NULL, NULL, -0.5, NULL, NULL, NULL),
  (4, 0, 0, 0.000, '', 0, true, 0, 0),
  (5, -3, 3, 100.125, 'gamma', 2.25, false, 42, 7);

-- CASE
SELECT id, CASE WHEN a > 0 THEN 'pos' WHEN a < 0 THEN 'neg' ELSE 'zero or null' END FROM t ORDER BY id;
SELECT id, CASE a WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END AS word FROM t ORDER BY id;
SELECT id, CASE WHEN a IS NULL THEN -1 ELSE a END FROM t ORDER BY id;
SELECT id, CASE WHEN flag THEN 1 WHEN NOT flag THEN 0 END FROM t ORDER BY id;
SELECT id, CASE WHEN b > 2 THEN n ELSE 0 END FROM t ORDER BY id;
SELECT id, CASE WHEN a > 0 THEN 1 ELSE 2.5 END FROM t ORDER BY id;
SELECT id, CASE WHEN a > 0 THEN a ELSE big END FROM t ORDER BY id;
SELECT CASE WHEN true THEN 'x' END, CASE WHEN false THEN 'x' END;
SELECT CASE NULL WHEN NULL THEN 'eq' ELSE 'ne' END;
SELECT CASE 1 WHEN 1 THEN 'a' WHEN 1 THEN 'b' END;
SELECT CASE WHEN 1 = 0 THEN 1 / 0 ELSE 3 END;
SELECT id, CASE WHEN s LIKE 'a%' THEN upper(s) WHEN s = '' THEN '(empty)' ELSE lower(s) END AS label FROM t ORDER BY id;
SELECT sum(CASE WHEN flag THEN 1 ELSE 0 END) AS flagged FROM t;

-- COALESCE / NULLIF / GREATEST / LEAST
SELECT id, coalesce(a, b, -1) FROM t ORDER BY id;
SELECT id, coalesce(s, 'none') FROM t ORDER BY id;
SELECT id, coalesce(n, a) FROM t ORDER BY id;
SELECT id, coalesce(f, 0) FROM t ORDER BY id;
SELECT coalesce(NULL, NULL, 3), coalesce(NULL::text, 'x');
SELECT coalesce(NULL, NULL);
SELECT id, nullif(a, 0), nullif(s, '') FROM t ORDER BY id;
SELECT nullif(1, 1), nullif(1, 2), nullif(NULL, 1);
SELECT id, 10 / nullif(b, 0) FROM t ORDER BY id;
SELECT id, greatest(a, b), least(a, b) FROM t ORDER BY id;
SELECT greatest(1, 2.5, 3), least(1, 2.5, 3);
SELECT greatest('apple', 'pear', 'fig'), least('apple', 'pear', 'fig');
SELECT greatest(NULL, 1), least(NULL, NULL::int);
SELECT id, greatest(a, b, 0) FROM t ORDER BY id;

-- three-valued logic
SELECT id, flag AND a > 0, flag OR a > 0, NOT flag FROM t ORDER BY id;
SELECT NULL AND false, NULL AND true, NULL OR true, NULL OR false, NOT NULL::boolean;
SELECT true AND NULL IS NULL;
SELECT id FROM t WHERE NOT (a > 0) ORDER BY id;
SELECT id FROM t WHERE a > 0 OR b > 0 ORDER BY id;
SELECT id FROM t WHERE a > 0 AND b > 0 ORDER BY id;
SELECT id FROM t WHERE flag IS TRUE ORDER BY id;
SELECT id FROM t WHERE flag IS NOT TRUE ORDER BY id;
SELECT id FROM t WHERE flag IS FALSE ORDER BY id;
SELECT id FROM t WHERE flag IS UNKNOWN ORDER BY id;
SELECT id, flag IS NOT FALSE FROM t ORDER BY id;
SELECT id, a IS NULL, a IS NOT NULL FROM t ORDER BY id;
SELECT NULL = NULL, NULL <> NULL, NULL IS NULL, 1 = NULL;

-- IS DISTINCT FROM
SELECT id, a IS DISTINCT FROM b, a IS NOT DISTINCT FROM b FROM t ORDER BY id;
SELECT NULL IS DISTINCT FROM NULL, 1 IS DISTINCT FROM NULL, 1 IS NOT DISTINCT FROM 1;
SELECT id FROM t WHERE s IS DISTINCT FROM 'alpha' ORDER BY id;
SELECT id FROM t WHERE a IS NOT DISTINCT FROM NULL ORDER BY id;

-- BETWEEN
SELECT id FROM t WHERE a BETWEEN 0 AND 7 ORDER BY id;
SELECT id FROM t WHERE a NOT BETWEEN 0 AND 5 ORDER BY id;
SELECT id FROM t WHERE n BETWEEN -3 AND 2 ORDER BY id;
SELECT 5 BETWEEN 10 AND 1, 5 BETWEEN SYMMETRIC 10 AND 1;
SELECT id FROM t WHERE s BETWEEN 'a' AND 'z' ORDER BY id;
SELECT NULL BETWEEN 1 AND 2, 1 BETWEEN NULL AND 2, 3 BETWEEN NULL AND 2;

-- IN lists
SELECT id FROM t WHERE a IN (1, 7, NULL) ORDER BY id;
SELECT id FROM t WHERE a NOT IN (1, 7) ORDER BY id;
SELECT id FROM t WHERE a NOT IN (1, NULL) ORDER BY id;
SELECT id, s IN ('alpha', 'gamma') FROM t ORDER BY id;
SELECT 1 IN (1, 2), 3 IN (1, 2), 3 IN (1, NULL), 1 NOT IN (2, NULL);
SELECT id FROM t WHERE n IN (1.5, 0) ORDER BY id;
SELECT id FROM t WHERE big IN (42, 10000000000) ORDER BY id;
SELECT 2.0 IN (1, 2, 3);

-- operator precedence and arithmetic
SELECT 1 + 2 * 3, (1 + 2) * 3, 10 - 4 - 3, 2 * 3 % 4;
SELECT -2 * 3, - (2 + 3), 2 - -3;
SELECT 7 / 2, 7 % 3, -7 / 2, -7 % 3;
SELECT 7.0 / 2, 1 / 3.0;
SELECT 2 ^ 3, 2 ^ 3 ^ 2;
SELECT 1 + 2 = 3, (1 < 2) = true;
SELECT true OR false AND false, (true OR false) AND false;
SELECT NOT true = false;
SELECT 'a' || 'b' || 'c', 'n' || 1, 1 || 'n';
SELECT 'x' || NULL;
SELECT 2 + 3 || 'x';
SELECT id, a + b, a - b, a * b, b / nullif(a, 0), a % nullif(b, 0) FROM t ORDER BY id;
SELECT id, n * 2, n + a, n / 4 FROM t ORDER BY id;
SELECT id, big * 2, sm + 1, sm * sm FROM t ORDER BY id;
SELECT id, f * 2, f + a FROM t ORDER BY id;
SELECT abs(-5), abs(-2.5), mod(10, 3), round(2.567, 2), round(2.5), trunc(-2.7), ceil(1.2), floor(-1.2);
SELECT 5 & 3, 5 | 3, 5 # 3, ~5, 1 << 4, 256 >> 2;
SELECT |/ 16.0, @ -4;

-- column names of unnamed expressions
SELECT 1;
SELECT 1, 2;
SELECT 1 + 1;
SELECT a + b FROM t WHERE id = 1;
SELECT CASE WHEN true THEN 1 END;
SELECT coalesce(a, 0) FROM t WHERE id = 1;
SELECT nullif(a, 0), greatest(a, b), least(a, b) FROM t WHERE id = 1;
SELECT upper(s), lower(s), length(s) FROM t WHERE id = 1;
SELECT a::text FROM t WHERE id = 1;
SELECT CAST(a AS bigint) FROM t WHERE id = 1;
SELECT 'hello';
SELECT 'hello'::text;
SELECT NULL;
SELECT true, false;
SELECT a IS NULL FROM t WHERE id = 1;
SELECT EXISTS (SELECT 1);
SELECT ARRAY[1, 2, 3];
SELECT (1, 2);
SELECT -a FROM t WHERE id = 1;
SELECT t.a, t.* FROM t WHERE id = 1;
SELECT a AS "Mixed Case", b AS "select" FROM t WHERE id = 1;
SELECT 1 AS x, 2 AS X;
SELECT a BETWEEN 1 AND 2 FROM t WHERE id = 1;
SELECT a IN (1, 2) FROM t WHERE id = 1;
SELECT s LIKE 'a%', s ILIKE 'A%', s NOT LIKE '%a' FROM t WHERE id = 1;
SELECT current_date IS NOT NULL;
SELECT pg_typeof(1), pg_typeof(1.5), pg_typeof('a'), pg_typeof(10000000000), pg_typeof(1.5::float8);

-- casts
SELECT '42'::int, '42'::bigint, '42'::smallint, '4.2'::numeric, '4.2'::float8;
SELECT 3.7::int, -3.5::int, 2.5::int, (-2.5)::int;
SELECT 1::boolean, 0::boolean, 'yes'::boolean, 'f'::boolean;
SELECT true::int, false::text;
SELECT 12.345::numeric(5,1), 12.355::numeric(5,2);
SELECT CAST('2024-02-29' AS date), CAST('12:30' AS time);
SELECT 100::text || 'x', length(12345::text);
SELECT id, n::int, f::numeric, a::float8 FROM t ORDER BY id;
SELECT ' 12 '::int;
SELECT '1e3'::float8, '1e3'::numeric;
SELECT 'abc'::varchar(2), 'abc'::char(5) || '|';
SELECT NULL::int, NULL::text IS NULL;
SELECT int '5', numeric '1.10', text 'x';
SELECT 1.0 = 1, '1'::numeric = 1.00;
SELECT 10000000000;
SELECT 2147483647, 2147483648, -2147483648;
SELECT 1.5, 1e2, .5, 5.;

-- errors
SELECT 1 / 0;
SELECT 1.0 / 0;
SELECT 5 % 0;
SELECT 2147483647 + 1;
SELECT 'abc'::int;
SELECT '2024-13-01'::date;
SELECT 99999::smallint;
SELECT 1000.5::numeric(4,1);
SELECT CASE WHEN 1 = 1 THEN 1 ELSE 'x' END;
SELECT coalesce(1, 'x');
SELECT 1 + 'a';
SELECT nosuch FROM t;
SELECT t.nosuch FROM t;
SELECT * FROM nosuch;
SELECT 'a' + 1;
SELECT true AND 1;
SELECT a FROM t WHERE a;
SELECT greatest(1, 'x');
SELECT 1 BETWEEN 'a' AND 'b';
SELECT (-9223372036854775807 - 1)::bigint * -1;
SELECT abs(-2147483648);
SELECT nosuchfunc(1);
SELECT 1 IN ('a', 'b');
SELECT 1 < 2 = true;
