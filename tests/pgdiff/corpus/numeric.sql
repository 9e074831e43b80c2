-- Arithmetic on every numeric type: result types, overflow, division, modulo, rounding,
-- numeric scale, aggregates.

CREATE TABLE nums (
    id integer PRIMARY KEY,
    s smallint,
    i integer,
    b bigint,
    r real,
    d double precision,
    n numeric,
    m numeric(10,2)
);
INSERT INTO nums VALUES
    (1, 1, 10, 100, 1.5, 2.5, 1.25, 10.50),
    (2, 2, 20, 200, 2.5, 3.5, 2.50, 20.25),
    (3, 3, -30, -300, -0.5, -1.5, 3.125, 0.01),
    (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (5, 32767, 2147483647, 9223372036854775807, 1e30, 1e15, 99999999.99, 99999999.99);
SELECT * FROM nums ORDER BY id;

-- Integer arithmetic and result types
SELECT 2 + 3, 2 - 3, 2 * 3, 7 / 2, -7 / 2, 7 % 3, -7 % 3, 7 % -3;
SELECT 1::smallint + 1::smallint, 1::smallint * 2, 1::smallint + 1::bigint;
SELECT 5::int / 2::bigint, 5::bigint % 3;
SELECT s + s, s * i, i + b FROM nums WHERE id = 1;
SELECT s + 1, i + 1, b + 1 FROM nums WHERE id < 4 ORDER BY id;
SELECT -s, -i, -b, +i FROM nums WHERE id = 2;
SELECT @ -5, abs(-5), abs(-5::smallint), abs(-5::bigint);
SELECT 2 ^ 10, 2 ^ 0.5, pg_typeof(2 ^ 10)::text;
SELECT |/ 16, ||/ 27;
SELECT 17 & 5, 17 | 5, 17 # 5, ~5, 1 << 4, 256 >> 2;
SELECT 10 / 3 * 3, 10 - 3 - 2, 2 + 3 * 4, (2 + 3) * 4;
SELECT -2 ^ 2, (-2) ^ 2, 2 ^ 3 ^ 2;

-- Integer overflow
SELECT 2147483647 + 1;
SELECT -2147483648 - 1;
SELECT 2147483647 * 2;
SELECT 2147483647::bigint + 1;
SELECT 9223372036854775807 + 1;
SELECT -9223372036854775807 - 2;
SELECT 9223372036854775807 * 2;
SELECT 32767::smallint + 1::smallint;
SELECT (-32768)::smallint * (-1)::smallint;
SELECT s + 1::smallint FROM nums WHERE id = 5;
SELECT i + 1 FROM nums WHERE id = 5;
SELECT b + 1 FROM nums WHERE id = 5;
SELECT i * 2 FROM nums WHERE id = 5;
SELECT -(-2147483648);
SELECT abs(-2147483648);
SELECT (-2147483648) / (-1);
SELECT (-9223372036854775808)::bigint / (-1);
SELECT 2147483647 + 1::bigint;
SELECT sum(i) FROM nums;
SELECT sum(b) FROM nums;
SELECT 1 << 31, 1::bigint << 63;

-- Division and modulo by zero
SELECT 1 / 0;
SELECT 1::bigint / 0;
SELECT 1::smallint / 0::smallint;
SELECT 5 % 0;
SELECT 1.0 / 0;
SELECT 1.5 % 0;
SELECT 1.0::float8 / 0;
SELECT 1.0::real / 0;
SELECT 0.0::float8 / 0;
SELECT i / 0 FROM nums WHERE id = 1;
SELECT i / (id - 1) FROM nums WHERE id = 1;
SELECT mod(7, 0);

-- numeric arithmetic and scale of results
SELECT 1.5 + 2.25, 1.5 - 2.25, 1.5 * 2.25;
SELECT 10.0 / 3, 10 / 3.0, 1 / 3.0, 2.0 / 3;
SELECT 1.00 + 1, 1.10 * 2, 0.1 + 0.2;
SELECT 100.0 / 8, 1.000 / 4, 7.5 / 2.5;
SELECT 1 / 7::numeric, 22 / 7::numeric;
SELECT 1234567.891 * 1000, 0.001 * 0.001;
SELECT 5.5 % 2, -5.5 % 2, 10.25 % 0.5;
SELECT 12345678901234567890 + 1, 12345678901234567890 * 10;
SELECT 99999999999999999999.99 + 0.01;
SELECT 0.1::numeric * 3 = 0.3;
SELECT n + m, n * m, n - m FROM nums WHERE id < 4 ORDER BY id;
SELECT n / 3 FROM nums WHERE id < 4 ORDER BY id;
SELECT m * 2, m / 4 FROM nums WHERE id < 4 ORDER BY id;
SELECT n + i, n * b, m + s FROM nums WHERE id = 1;
SELECT 1.5::numeric(4,1) * 1.5::numeric(4,1);
SELECT 2::numeric ^ 10, 2.0 ^ 0.5;
SELECT sqrt(2::numeric), sqrt(16::numeric), sqrt(2.0);
SELECT sqrt(-1::numeric);
SELECT sqrt(-1.0::float8);
SELECT exp(1.0), ln(10.0), log(100.0), log(2, 8.0);
SELECT ln(0);
SELECT ln(-1.0);
SELECT power(2, 10), power(2.0, 3), power(2::float8, 0.5);
SELECT 0 ^ -1;

-- Floating point
SELECT 0.1::float8 + 0.2::float8, 1.5::real + 1, 1.5::real * 2::real;
SELECT 1::float8 / 3, 2::real / 3;
SELECT r + d, r * 2, d / 2 FROM nums WHERE id < 4 ORDER BY id;
SELECT r + i, d + n FROM nums WHERE id < 4 ORDER BY id;
SELECT 1e308::float8 * 10;
SELECT 1e-308::float8 / 1e10;
SELECT 1e300::float8, d * 1e300 FROM nums WHERE id = 1;
SELECT 3.0::real ^ 40;
SELECT 'Infinity'::float8 + 1, 'Infinity'::float8 - 'Infinity'::float8;
SELECT 123456789.123::float8, 1234567.125::real, 0.000012345::float8;
SELECT 1.0::float8 = 1, 0.5::real < 0.6::float8;
SELECT 10::float8 % 3;

-- Rounding functions
SELECT round(2.5), round(3.5), round(-2.5), round(2.4999);
SELECT round(2.5::float8), round(3.5::float8), round(-2.5::float8);
SELECT round(1.23456, 2), round(1.235, 2), round(-1.235, 2), round(1234.5, -2);
SELECT round(5::integer), round(5.5::real);
SELECT round(12.345::float8, 1);
SELECT trunc(2.7), trunc(-2.7), trunc(1.23456, 3), trunc(1234.5, -2);
SELECT trunc(2.7::float8), trunc(-2.7::float8);
SELECT ceil(2.1), ceil(-2.1), ceiling(2.0), floor(2.9), floor(-2.1);
SELECT ceil(2.1::float8), floor(-2.1::float8), ceil(5), floor(5::bigint);
SELECT round(n, 1), trunc(m, 1), ceil(n), floor(m) FROM nums WHERE id < 4 ORDER BY id;
SELECT sign(-5), sign(0), sign(3.5), sign(-2.5::float8);
SELECT mod(10, 3), mod(-10, 3), mod(10.5, 3), mod(10::bigint, 4::smallint);
SELECT div(10, 3), div(-10, 3), div(10.5, 3);
SELECT gcd(12, 18), lcm(4, 6);
SELECT pi(), degrees(1), radians(180);
SELECT sin(0), cos(0), tan(0), atan(1), atan2(1, 1);
SELECT cbrt(27), cbrt(-8::float8);
SELECT width_bucket(5.35, 0.024, 10.06, 5);
SELECT scale(1.2345), scale(10), scale(1.0);
SELECT round(2.567, 0), round(2.567::numeric(10,3), 1);

-- Casting results to scale
SELECT (1.0 / 3)::numeric(10,4), (2.0 / 3)::numeric(5,2), 10.995::numeric(5,2);
SELECT 1::numeric(10,2), 1.5::numeric(10,2) * 3;
SELECT 12345.678::numeric(8,3) + 1;
SELECT 12345.6::numeric(6,1)::numeric(5,1);
SELECT (1.0 / 3)::float8, (1.0 / 3)::real;
SELECT 10::numeric / 4, 10::numeric(10,0) / 4;
SELECT 1.0::numeric(3,1) / 3::numeric(3,1);
SELECT to_char(1234.5, '9999.99'), to_char(0.5, '0.00'), to_char(-12.3, '999.9');
SELECT to_char(1234567.891, 'FM9,999,999.00'), to_char(42, '00000');

-- Aggregates and their result types
SELECT count(*), count(i), count(n) FROM nums;
SELECT sum(s), sum(i), sum(n), sum(m) FROM nums WHERE id < 4;
SELECT sum(r), sum(d) FROM nums WHERE id < 4;
SELECT avg(s), avg(i), avg(b) FROM nums WHERE id < 4;
SELECT avg(n), avg(m), avg(r), avg(d) FROM nums WHERE id < 4;
SELECT min(s), max(s), min(i), max(i), min(b), max(b) FROM nums;
SELECT min(n), max(n), min(m), max(m), min(r), max(d) FROM nums;
SELECT sum(i) FROM nums WHERE id > 100;
SELECT count(*) FROM nums WHERE id > 100;
SELECT avg(i) FROM nums WHERE id > 100;
SELECT sum(x) FROM (VALUES (1), (2), (3)) AS v(x);
SELECT avg(x) FROM (VALUES (1), (2), (4)) AS v(x);
SELECT avg(x) FROM (VALUES (1.0), (2.0), (4.0)) AS v(x);
SELECT avg(x) FROM (VALUES (1.5::float8), (2.5::float8)) AS v(x);
SELECT sum(x::smallint) FROM (VALUES (1), (2)) AS v(x);
SELECT sum(x) FROM (VALUES (2147483647), (2147483647)) AS v(x);
SELECT sum(x) FROM (VALUES (9223372036854775807), (1)) AS v(x);
SELECT stddev(i), variance(i) FROM nums WHERE id < 4;
SELECT stddev_pop(d), var_pop(d), stddev_samp(n), var_samp(n) FROM nums WHERE id < 4;
SELECT stddev(x) FROM (VALUES (1)) AS v(x);
SELECT sum(DISTINCT x), count(DISTINCT x), avg(DISTINCT x) FROM (VALUES (1), (1), (2), (NULL)) AS v(x);
SELECT bit_and(x), bit_or(x) FROM (VALUES (12), (10)) AS v(x);
SELECT bool_and(x > 0), bool_or(x > 2), every(x > 0) FROM (VALUES (1), (2), (3)) AS v(x);
SELECT id % 2 AS parity, sum(i), avg(n), count(*) FROM nums GROUP BY id % 2 ORDER BY parity;
SELECT sum(i) FILTER (WHERE i > 0), count(*) FILTER (WHERE n > 2) FROM nums;
SELECT sum(m) / count(m), round(avg(m), 2) FROM nums WHERE id < 4;
SELECT sum(n * m), sum(r * d) FROM nums WHERE id < 4;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM (VALUES (1), (2), (3), (4)) AS v(x);
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM (VALUES (1), (2), (3), (4)) AS v(x);
SELECT sum(i) OVER (ORDER BY id) FROM nums WHERE id < 4 ORDER BY id;
SELECT avg(n) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM nums WHERE id < 4 ORDER BY id;

-- Comparison across numeric types
SELECT 1 = 1.0, 1::smallint = 1::bigint, 1::real = 1::numeric, 0.1::real = 0.1;
SELECT 2147483648 > 2147483647, 1.5 > 1, 1e3 = 1000;
SELECT id FROM nums WHERE n > 2 ORDER BY id;
SELECT id FROM nums WHERE m = 10.5 ORDER BY id;
SELECT id FROM nums WHERE d < r ORDER BY id;
SELECT id FROM nums WHERE i BETWEEN -100 AND 15 ORDER BY id;
SELECT id FROM nums WHERE b IN (100, 300, -300) ORDER BY id;
SELECT id, n FROM nums WHERE n IS NOT NULL ORDER BY n DESC;
SELECT id, d FROM nums ORDER BY d NULLS FIRST, id;
SELECT greatest(1, 2, 3), least(1.5, 0.5, 2), greatest(1::smallint, 2::bigint);
SELECT greatest(1, NULL, 3), least(NULL::int, NULL);

-- Updating numeric columns
UPDATE nums SET i = i * 2, n = n / 2, m = m * 1.005 WHERE id < 4;
SELECT id, i, n, m FROM nums WHERE id < 4 ORDER BY id;
UPDATE nums SET i = i + 1 WHERE id = 5;
UPDATE nums SET m = m * 100 WHERE id = 5;
UPDATE nums SET s = s + 1 WHERE id = 5;
UPDATE nums SET m = 1.235 WHERE id = 1 RETURNING m;
UPDATE nums SET i = 7.5 WHERE id = 1 RETURNING i;
UPDATE nums SET b = '12' WHERE id = 1 RETURNING b;
UPDATE nums SET i = 'abc' WHERE id = 1;
INSERT INTO nums (id, m) VALUES (6, 123456789.999);
INSERT INTO nums (id, i) VALUES (6, 2147483648);
INSERT INTO nums (id, n) VALUES (6, 1e-20) RETURNING n;
SELECT id, i, b, m FROM nums ORDER BY id;
