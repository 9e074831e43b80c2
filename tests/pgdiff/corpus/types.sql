-- Every type Atoll claims: columns, literals, casts, NULLs, range and input errors, comparisons.

-- A table with one column of each type.
CREATE TABLE alltypes (
    id serial PRIMARY KEY,
    s smallint,
    i integer,
    b bigint,
    flag boolean,
    r real,
    d double precision,
    n numeric,
    n52 numeric(5,2),
    t text,
    vc varchar(10),
    ch char(5),
    by bytea,
    dt date,
    ts timestamp,
    tz timestamptz,
    iv interval,
    u uuid,
    j jsonb
);
INSERT INTO alltypes (s, i, b, flag, r, d, n, n52, t, vc, ch, by, dt, ts, tz, iv, u, j)
VALUES (1, 100, 10000000000, true, 1.5, 2.25, 123.456, 12.34, 'hello', 'short', 'ab',
        '\x0102ff', '2024-01-15', '2024-01-15 10:30:00', '2024-01-15 10:30:00+00',
        '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, 2, 3]}');
INSERT INTO alltypes (s, i, b, flag, r, d, n, n52, t, vc, ch, by, dt, ts, tz, iv, u, j)
VALUES (-32768, -2147483648, -9223372036854775808, false, -0.25, -1e10, -0.001, -999.99, '', '',
        '', '\x', '1999-12-31', '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59+05',
        '-3 mons', '00000000-0000-0000-0000-000000000000', '[]');
INSERT INTO alltypes (s) VALUES (NULL);
SELECT * FROM alltypes ORDER BY id;
SELECT id, s, i, b FROM alltypes ORDER BY id;
SELECT id, flag, r, d, n, n52 FROM alltypes ORDER BY id;
SELECT id, t, vc, ch, by FROM alltypes ORDER BY id;
SELECT id, dt, ts, tz, iv FROM alltypes ORDER BY id;
SELECT id, u, j FROM alltypes ORDER BY id;
SELECT count(*), count(s), count(j) FROM alltypes;
SELECT id FROM alltypes WHERE s IS NULL ORDER BY id;
SELECT id FROM alltypes WHERE i IS NOT NULL ORDER BY id;

-- serial
CREATE TABLE ser (id serial, big bigserial, small smallserial, note text);
INSERT INTO ser (note) VALUES ('a'), ('b'), ('c');
INSERT INTO ser (note) VALUES ('d') RETURNING id, big, small;
SELECT * FROM ser ORDER BY id;
INSERT INTO ser (id, note) VALUES (100, 'explicit');
SELECT id, note FROM ser ORDER BY id;

-- Literals and their types
SELECT 1;
SELECT 2147483647;
SELECT 2147483648;
SELECT 9223372036854775807;
SELECT 9223372036854775808;
SELECT 1.5;
SELECT 1e3;
SELECT .5, 5.;
SELECT 'abc';
SELECT true, false;
SELECT NULL;
SELECT NULL::int, NULL::text, NULL::date;
SELECT NULL::jsonb;
SELECT -32768::smallint;
SELECT (-32768)::smallint;

-- pg_typeof names the type
SELECT pg_typeof(1);
SELECT pg_typeof(2147483648);
SELECT pg_typeof(1.5);
SELECT pg_typeof(1)::text, pg_typeof(1::bigint)::text, pg_typeof(1.5)::text;
SELECT pg_typeof('2024-01-15'::date)::text, pg_typeof('2024-01-15 10:30:00+00'::timestamptz)::text;
SELECT -1e100::float8, 1e100::float8;

-- smallint / integer / bigint
SELECT 32767::smallint, (-32768)::smallint;
SELECT 32768::smallint;
SELECT '32768'::smallint;
SELECT '2147483647'::integer, '-2147483648'::integer;
SELECT '2147483648'::integer;
SELECT 2147483648::integer;
SELECT '9223372036854775807'::bigint;
SELECT '9223372036854775808'::bigint;
SELECT '  42  '::integer;
SELECT '+17'::int;
SELECT '12abc'::integer;
SELECT ''::integer;
SELECT '1.5'::integer;
SELECT 1.5::integer, 2.5::integer, -2.5::integer, 3.49::integer;
SELECT 1.5::smallint, 2.5::bigint;
SELECT 2.5::float8::integer, 3.5::float8::integer, (-2.5)::float8::integer;
SELECT 1e10::integer;
SELECT 1e19::bigint;
SELECT 'NaN'::float8::integer;
INSERT INTO alltypes (s) VALUES (40000);
INSERT INTO alltypes (i) VALUES (3000000000);
INSERT INTO alltypes (s) VALUES ('x');
SELECT 100::smallint::text, 5::bigint::int, 5::int::smallint;
SELECT 70000::int::smallint;

-- boolean
SELECT 't'::boolean, 'f'::boolean, 'true'::boolean, 'FALSE'::boolean;
SELECT 'yes'::boolean, 'no'::boolean, 'on'::boolean, 'off'::boolean, '1'::boolean, '0'::boolean;
SELECT ' true '::boolean;
SELECT 'maybe'::boolean;
SELECT 1::boolean, 0::boolean;
SELECT true::int, false::int;
SELECT true::text, false::text;
SELECT true AND NULL, false AND NULL, true OR NULL, NOT NULL::boolean;
SELECT true > false, true = 't';
SELECT NULL::boolean IS NULL, true IS TRUE, NULL::boolean IS UNKNOWN, false IS NOT TRUE;

-- real / double precision
SELECT 1.5::real;
SELECT 0.1::real, 0.1::double precision;
SELECT 3.14159265358979::real;
SELECT 1e38::real;
SELECT 1e39::real;
SELECT 1e308::float8;
SELECT '1e309'::float8;
SELECT 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float8;
SELECT 'nan'::real, 'inf'::real, '-inf'::float8;
SELECT 'abc'::float8;
SELECT 1.0::float8 / 3;
SELECT 100000000000000000000::float8;
SELECT 1e-5::float8, 1e15::float8, 1e16::float8, 123456789012345678::float8;
SELECT 'NaN'::float8 = 'NaN'::float8, 'NaN'::float8 > 1e308::float8;
SELECT (-0.0)::float8, '-0'::float8;
SELECT 1.5::real::float8, 0.1::real::float8;
SELECT 2.5::float8::numeric, 0.1::float8::numeric;
SELECT 'Infinity'::float8::numeric;

-- numeric
SELECT 123.456::numeric;
SELECT 123.456::numeric(5,2);
SELECT 123.455::numeric(5,2), 123.445::numeric(5,2), -123.455::numeric(5,2);
SELECT 1234.5::numeric(5,2);
SELECT 99999::numeric(5,0), 0.5::numeric(1,0);
SELECT '1.2.3'::numeric;
SELECT 'NaN'::numeric, 'NaN'::numeric = 'NaN'::numeric;
SELECT 0.000001::numeric, 1.000::numeric, 100::numeric;
SELECT 12345678901234567890123456789.123456789::numeric;
SELECT '  3.14  '::numeric;
SELECT 1e-3::numeric, 1.5e2::numeric;
SELECT 12.34::numeric(10,4);
INSERT INTO alltypes (n52) VALUES (1000);
INSERT INTO alltypes (n52) VALUES (3.14159) RETURNING n52;
SELECT 12.5::numeric::text, 12.5::numeric::float8, 12.5::numeric::int;

-- text, varchar(n), char(n)
SELECT 'abc'::varchar(2);
SELECT 'abc'::char(2);
SELECT 'ab'::char(5), length('ab'::char(5)), 'ab'::char(5) || 'x';
SELECT 'ab'::char(5) = 'ab   '::char(5), 'ab'::char(5) = 'ab';
SELECT 'ab   '::varchar = 'ab', 'ab   '::text = 'ab';
SELECT pg_typeof('x'::varchar(3)), pg_typeof('x'::char(3)), pg_typeof('x'::char);
SELECT 'x'::char, 'xyz'::char;
INSERT INTO alltypes (vc) VALUES ('this is far too long');
INSERT INTO alltypes (vc) VALUES ('ten chars!') RETURNING vc;
INSERT INTO alltypes (vc) VALUES ('trailing   ') RETURNING vc;
INSERT INTO alltypes (ch) VALUES ('sixchr');
INSERT INTO alltypes (ch) VALUES ('five   ') RETURNING ch, length(ch);
SELECT 42::text, 4.5::text, true::text;
SELECT 'it''s', E'a\tb', E'line\\n';
SELECT $$dollar 'quoted'$$;
SELECT 'abc' < 'abd', 'a' < 'B', 'Z' < 'a', '' < 'a';
SELECT 'abc'::varchar(10) || 'def'::varchar(10);

-- bytea
SELECT '\x00ff10'::bytea;
SELECT 'abc'::bytea;
SELECT '\xzz'::bytea;
SELECT '\x123'::bytea;
SELECT length('\x0102ff'::bytea), octet_length('\x0102ff'::bytea);
SELECT '\x01'::bytea || '\x02'::bytea;
SELECT '\x01'::bytea < '\x02'::bytea, '\x01'::bytea = '\x01'::bytea;
SELECT 'abc'::bytea::text;
SELECT decode('616263', 'hex'), encode('abc'::bytea, 'hex');
SELECT encode('hello'::bytea, 'base64'), decode('aGVsbG8=', 'base64');

-- date
SELECT '2024-02-29'::date;
SELECT '2023-02-29'::date;
SELECT '2024-13-01'::date;
SELECT 'not a date'::date;
SELECT date '2024-01-01', DATE '0001-01-01';
SELECT '20240315'::date, 'March 15, 2024'::date;
SELECT 'infinity'::date, '-infinity'::date;
SELECT '2024-01-15'::date::timestamp, '2024-01-15'::date::timestamptz;
SELECT '2024-01-15 13:45:00'::timestamp::date;
SELECT '2024-01-15'::date::text;
SELECT '2024-01-15'::date < '2024-01-16'::date, '2024-01-15'::date = '2024-01-15 00:00'::timestamp;

-- timestamp / timestamptz
SELECT '2024-01-15 10:30:00'::timestamp;
SELECT '2024-01-15T10:30:00'::timestamp;
SELECT '2024-01-15 10:30:00.123456'::timestamp, '2024-01-15 10:30:00.1234567'::timestamp;
SELECT '2024-01-15 25:00:00'::timestamp;
SELECT '2024-01-15 10:30:00+02'::timestamptz;
SELECT '2024-01-15 10:30:00-08:00'::timestamptz;
SELECT '2024-01-15 10:30:00+02'::timestamp;
SELECT '2024-01-15 10:30:00+02'::timestamptz::timestamp;
SELECT '2024-01-15 10:30:00'::timestamp::timestamptz;
SELECT '2024-01-15 10:30:00+05:30'::timestamptz::date;
SELECT timestamp '2024-01-15 10:30', timestamptz '2024-01-15 10:30Z';
SELECT 'infinity'::timestamp, '-infinity'::timestamptz;
SELECT '2024-01-15 10:30:00'::timestamp::text;
SELECT '2024-01-15 10:30:00+00'::timestamptz = '2024-01-15 12:30:00+02'::timestamptz;
SELECT '2024-01-15 10:30:00'::timestamp < '2024-01-15 10:30:01'::timestamp;
SELECT 'garbage'::timestamp;
SELECT '2024-01-15 10:30:00'::timestamp(0), '2024-01-15 10:30:00.56'::timestamp(1);

-- interval
SELECT '1 day'::interval;
SELECT '1 year 2 months 3 days 04:05:06'::interval;
SELECT '90 minutes'::interval, '36 hours'::interval, '45 days'::interval;
SELECT '-1 day'::interval, '1 day -1 hour'::interval;
SELECT 'P1Y2M3DT4H5M6S'::interval;
SELECT '1.5 days'::interval, '0.5 months'::interval;
SELECT '10:00'::interval, '00:00:00.5'::interval;
SELECT 'one day'::interval;
SELECT interval '1' day, interval '2 hours';
SELECT '1 day'::interval = '24 hours'::interval, '1 mon'::interval = '30 days'::interval;
SELECT '1 day'::interval > '23 hours'::interval;
SELECT '1 day 2 hours'::interval::text;

-- uuid
SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid;
SELECT 'a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid;
SELECT '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid;
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'::uuid;
SELECT 'not-a-uuid'::uuid;
SELECT pg_typeof('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid);
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid::text;
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid;
SELECT '00000000-0000-0000-0000-000000000001'::uuid < 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid;
SELECT id FROM alltypes WHERE u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' ORDER BY id;

-- jsonb
SELECT '{"b": 2, "a": 1}'::jsonb;
SELECT '{"a": 1, "a": 2}'::jsonb;
SELECT '[1, "two", null, true, 3.50]'::jsonb;
SELECT '"just a string"'::jsonb, '42'::jsonb, 'null'::jsonb, 'true'::jsonb;
SELECT '{"a": }'::jsonb;
SELECT '{bad json}'::jsonb;
SELECT '{"a": {"b": [10, 20]}}'::jsonb -> 'a' -> 'b' -> 1;
SELECT '{"a": {"b": [10, 20]}}'::jsonb #> '{a,b}', '{"a": {"b": [10, 20]}}'::jsonb #>> '{a,b,0}';
SELECT '[1, 2, 3]'::jsonb -> 0, '[1, 2, 3]'::jsonb -> -1, '[1, 2, 3]'::jsonb -> 5;
SELECT '{"a": 1}'::jsonb -> 'missing', '{"a": null}'::jsonb ->> 'a';
SELECT pg_typeof('{"a": 1}'::jsonb -> 'a'), pg_typeof('{"a": 1}'::jsonb ->> 'a');
SELECT '{"a": 1, "b": 2}'::jsonb @> '{"a": 1}', '{"a": 1}'::jsonb ? 'a', '{"a": 1}'::jsonb ? 'b';
SELECT '{"a": 1}'::jsonb = '{"a": 1.0}'::jsonb, '[1, 2]'::jsonb = '[2, 1]'::jsonb;
SELECT '{"a": 1}'::jsonb || '{"b": 2}'::jsonb;
SELECT '{"a": 1}'::jsonb::text, '{"x":   [1,2]}'::jsonb::text;
SELECT j -> 'k' FROM alltypes WHERE id = 1;
SELECT jsonb_typeof('{"a": 1}'::jsonb), jsonb_typeof('[1]'::jsonb), jsonb_typeof('"s"'::jsonb), jsonb_typeof('1.5'::jsonb);
SELECT ('{"n": 5}'::jsonb ->> 'n')::int + 1;

-- Casts between families
SELECT 42::text::integer, '42'::text::bigint, '3.5'::text::numeric;
SELECT 7::integer::double precision, 7::bigint::real, 7::smallint::numeric;
SELECT 1.9::real::integer, (-1.9)::double precision::bigint;
SELECT 123::numeric(5,2), 123::integer::numeric(4,1);
SELECT '2024-01-15'::text::date, '1 hour'::text::interval;
SELECT 5::boolean::text;
SELECT '{"a":1}'::text::jsonb;
SELECT 1::date;
SELECT '2024-01-01'::date::integer;
SELECT 1::uuid;
SELECT CAST('123' AS integer), CAST(3.7 AS integer), CAST(1 AS text);
SELECT CAST('x' AS integer);

-- Comparisons across numeric types
SELECT 1::smallint = 1::bigint, 1::int = 1.0::numeric, 1::int = 1.0::float8;
SELECT 0.1::float4 = 0.1::float8, 0.1::numeric = 0.1::float8;
SELECT 2::int < 2.5, 3::bigint > 2.9::real;
SELECT 10 BETWEEN 1 AND 10, 5 NOT BETWEEN 6 AND 9;
SELECT NULL = NULL, NULL <> 1, 1 IS DISTINCT FROM NULL, NULL IS NOT DISTINCT FROM NULL;
SELECT 'abc' = NULL::text IS NULL;
SELECT greatest(1, 2.5, 3::bigint), least('b', 'a', 'c');
SELECT coalesce(NULL::int, 7), coalesce(NULL, 'x'), nullif(5, 5), nullif(5, 6);
SELECT id, s FROM alltypes WHERE s < 0 ORDER BY id;
SELECT id FROM alltypes WHERE dt > '2000-01-01' ORDER BY id;
SELECT id FROM alltypes WHERE ts BETWEEN '2024-01-01' AND '2024-12-31' ORDER BY id;
SELECT id FROM alltypes WHERE tz < '2000-01-01 00:00:00+00' ORDER BY id;
SELECT id FROM alltypes WHERE flag ORDER BY id;
SELECT id FROM alltypes WHERE n > 100 ORDER BY id;
SELECT id, ch FROM alltypes WHERE ch = 'ab' ORDER BY id;
SELECT 1 = '1', '10' > 9;
SELECT 1 = 'a';
SELECT 1 + '2';
SELECT 'a' + 1;
SELECT '2024-01-01'::date = 1;

-- CASE / UNION type resolution
SELECT CASE WHEN true THEN 1 ELSE 2.5 END;
SELECT CASE WHEN false THEN 1 ELSE 'x' END;
SELECT 1 UNION SELECT 2.5 ORDER BY 1;
SELECT 1::smallint UNION ALL SELECT 100000 ORDER BY 1;
SELECT 'a' UNION SELECT 'b' ORDER BY 1;
SELECT pg_typeof(x) FROM (SELECT 1::int2 UNION ALL SELECT 2::int8) AS v(x);

-- Updating typed columns
UPDATE alltypes SET s = s + 1 WHERE id = 1;
UPDATE alltypes SET s = 32767 WHERE id = 1;
UPDATE alltypes SET s = s + 1 WHERE id = 1;
UPDATE alltypes SET dt = '2024-02-30' WHERE id = 1;
UPDATE alltypes SET j = jsonb_build_object('x', 1, 'y', 'two') WHERE id = 1 RETURNING j;
UPDATE alltypes SET iv = iv + '1 hour' WHERE id = 1 RETURNING iv;
SELECT id, s, dt, iv, j FROM alltypes WHERE id = 1;
DELETE FROM alltypes WHERE s IS NULL AND i IS NULL AND vc IS NULL;
SELECT count(*) FROM alltypes;
