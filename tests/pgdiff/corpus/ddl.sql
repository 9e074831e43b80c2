-- CREATE/DROP/ALTER of tables and indexes as migrations and ORMs send them: IF [NOT] EXISTS,
-- constraints, serial, defaults, TRUNCATE, and the errors each one raises.

-- CREATE TABLE shapes
CREATE TABLE t1 (id int PRIMARY KEY, name text);
CREATE TABLE t1 (id int PRIMARY KEY);
CREATE TABLE IF NOT EXISTS t1 (id int PRIMARY KEY);
CREATE TABLE t2 (a int, b text, c boolean);
CREATE TABLE t3 (a int NOT NULL, b int NOT NULL, c text, PRIMARY KEY (a, b));
CREATE TABLE t4 (id bigint PRIMARY KEY, code text UNIQUE, qty int CHECK (qty >= 0), note text DEFAULT 'n/a');
CREATE TABLE t5 (id int, email text, CONSTRAINT t5_pk PRIMARY KEY (id), CONSTRAINT t5_email_key UNIQUE (email));
CREATE TABLE t6 (lo int, hi int, CONSTRAINT lo_le_hi CHECK (lo <= hi));
CREATE TABLE "Quoted Table" ("Mixed Col" int PRIMARY KEY, "select" text);
CREATE TABLE public.t7 (id int PRIMARY KEY);
CREATE TABLE t8 (id serial PRIMARY KEY, label text NOT NULL);
CREATE TABLE t9 (id bigserial PRIMARY KEY, small smallserial);
CREATE TABLE t10 (
    i smallint, j integer, k bigint, r real, d double precision, n numeric, n2 numeric(8,3),
    s text, v varchar(20), c char(3), b boolean, by bytea, dt date, ts timestamp,
    tz timestamptz, iv interval, u uuid, js jsonb
);
CREATE TABLE t11 (id int PRIMARY KEY, created date DEFAULT '2024-01-01', flag boolean DEFAULT false, score int DEFAULT 1 + 2);
CREATE TABLE t12 (id int PRIMARY KEY, u1 int, u2 int, UNIQUE (u1, u2));
CREATE TABLE t13 (id int NOT NULL, name text);
CREATE TABLE t13b (LIKE t1);
CREATE TABLE t14 AS SELECT 1 AS x, 'a'::text AS y;
CREATE TEMP TABLE tmp1 (id int);
CREATE UNLOGGED TABLE ul1 (id int);

-- CREATE TABLE errors
CREATE TABLE bad1 (id int PRIMARY KEY, id text);
CREATE TABLE bad2 (id int PRIMARY KEY, x int PRIMARY KEY);
CREATE TABLE bad3 (id nosuchtype);
CREATE TABLE bad4 (id int, PRIMARY KEY (nope));
CREATE TABLE bad5 (id int CHECK (nope > 0));
CREATE TABLE nosuchschema.bad6 (id int);
CREATE TABLE bad7 (id int DEFAULT 'abc');
CREATE TABLE bad8 (v varchar(0));

-- Behaviour of the constraints
INSERT INTO t4 VALUES (1, 'a', 1);
INSERT INTO t4 VALUES (2, 'a', 1);
INSERT INTO t4 VALUES (3, 'b', -1);
INSERT INTO t4 VALUES (4, NULL, NULL);
INSERT INTO t4 VALUES (5, NULL, 0);
SELECT id, code, qty, note FROM t4 ORDER BY id;
INSERT INTO t3 VALUES (1, 1, 'x'), (1, 2, 'y');
INSERT INTO t3 VALUES (1, 1, 'dup');
INSERT INTO t3 (a, c) VALUES (2, 'nob');
INSERT INTO t6 VALUES (1, 2);
INSERT INTO t6 VALUES (3, 2);
INSERT INTO t6 VALUES (NULL, 2);
INSERT INTO t12 VALUES (1, 1, 1), (2, 1, 2), (3, NULL, NULL), (4, NULL, NULL);
INSERT INTO t12 VALUES (5, 1, 1);
INSERT INTO t5 VALUES (1, 'a@b'), (2, 'a@b');
SELECT count(*) FROM t5;
INSERT INTO "Quoted Table" VALUES (1, 'kw');
SELECT "Mixed Col", "select" FROM "Quoted Table";
SELECT mixed_col FROM "Quoted Table";
INSERT INTO t8 (label) VALUES ('a'), ('b');
INSERT INTO t8 (label) VALUES (NULL);
SELECT id, label FROM t8 ORDER BY id;
INSERT INTO t9 DEFAULT VALUES;
INSERT INTO t9 DEFAULT VALUES;
SELECT id, small FROM t9 ORDER BY id;
INSERT INTO t11 (id) VALUES (1);
SELECT id, created, flag, score FROM t11;
INSERT INTO t10 (i, j, k, s, v, c, b, dt) VALUES (1, 2, 3, 's', 'v', 'c', true, '2024-05-06');
SELECT i, j, k, s, v, c, b, dt FROM t10;
SELECT * FROM t13;
SELECT * FROM t13b;
SELECT x, y FROM t14;

-- CREATE INDEX
CREATE INDEX t2_a_idx ON t2 (a);
CREATE INDEX t2_a_idx ON t2 (b);
CREATE INDEX IF NOT EXISTS t2_a_idx ON t2 (b);
CREATE UNIQUE INDEX t2_b_key ON t2 (b);
CREATE INDEX ON t2 (c);
CREATE INDEX t2_ab_idx ON t2 (a, b);
CREATE INDEX t2_a_desc_idx ON t2 (a DESC);
CREATE INDEX t2_lower_idx ON t2 (lower(b));
CREATE INDEX t2_partial_idx ON t2 (a) WHERE c;
CREATE INDEX t2_btree_idx ON t2 USING btree (a);
CREATE INDEX nosuch_idx ON nosuch (a);
CREATE INDEX t2_nocol_idx ON t2 (nocol);
INSERT INTO t2 VALUES (1, 'x', true), (2, 'y', false);
INSERT INTO t2 VALUES (3, 'x', true);
SELECT a, b FROM t2 WHERE b = 'x';
CREATE UNIQUE INDEX t2_c_key ON t2 (c);
INSERT INTO t2 VALUES (1, 'z', NULL);
CREATE UNIQUE INDEX t2_a_key ON t2 (a);
DROP INDEX t2_a_idx;
DROP INDEX t2_a_idx;
DROP INDEX IF EXISTS t2_a_idx;
DROP INDEX IF EXISTS t2_ab_idx, t2_a_desc_idx;
CREATE INDEX CONCURRENTLY t2_conc_idx ON t2 (a);
DROP INDEX CONCURRENTLY IF EXISTS t2_conc_idx;

-- ALTER TABLE ADD/DROP COLUMN
ALTER TABLE t1 ADD COLUMN age int;
ALTER TABLE t1 ADD COLUMN age int;
ALTER TABLE t1 ADD COLUMN IF NOT EXISTS age int;
ALTER TABLE t1 ADD email text;
ALTER TABLE t1 ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE t1 ADD COLUMN code text UNIQUE;
INSERT INTO t1 (id, name) VALUES (1, 'one');
ALTER TABLE t1 ADD COLUMN must text NOT NULL;
ALTER TABLE t1 ADD COLUMN later int DEFAULT 42;
SELECT id, name, age, email, active, later FROM t1;
ALTER TABLE t1 DROP COLUMN email;
ALTER TABLE t1 DROP COLUMN email;
ALTER TABLE t1 DROP COLUMN IF EXISTS email;
ALTER TABLE t1 DROP COLUMN later, DROP COLUMN age;
SELECT * FROM t1;
ALTER TABLE nosuch ADD COLUMN x int;
ALTER TABLE IF EXISTS nosuch ADD COLUMN x int;

-- ALTER TABLE ADD PRIMARY KEY and other constraints
ALTER TABLE t2 ADD PRIMARY KEY (a);
ALTER TABLE t13 ADD PRIMARY KEY (id);
ALTER TABLE t13 ADD PRIMARY KEY (id);
INSERT INTO t13 VALUES (1, 'a');
INSERT INTO t13 VALUES (1, 'b');
ALTER TABLE t13 ADD CONSTRAINT t13_name_key UNIQUE (name);
ALTER TABLE t13 ADD CONSTRAINT t13_id_pos CHECK (id > 0);
INSERT INTO t13 VALUES (-1, 'neg');
ALTER TABLE t13 DROP CONSTRAINT t13_id_pos;

-- ALTER TABLE: SET/DROP DEFAULT, SET/DROP NOT NULL, ALTER TYPE, RENAME
CREATE TABLE r1 (id int PRIMARY KEY, a int, b text);
INSERT INTO r1 VALUES (1, 10, 'x');
ALTER TABLE r1 ALTER COLUMN b SET DEFAULT 'dflt';
INSERT INTO r1 (id) VALUES (2);
SELECT id, b FROM r1 ORDER BY id;
ALTER TABLE r1 ALTER COLUMN b DROP DEFAULT;
INSERT INTO r1 (id) VALUES (3);
SELECT id, b FROM r1 ORDER BY id;
ALTER TABLE r1 ALTER COLUMN b SET NOT NULL;
DELETE FROM r1 WHERE b IS NULL;
ALTER TABLE r1 ALTER COLUMN b SET NOT NULL;
INSERT INTO r1 (id) VALUES (4);
ALTER TABLE r1 ALTER COLUMN b DROP NOT NULL;
INSERT INTO r1 (id) VALUES (5);
SELECT count(*) FROM r1;
ALTER TABLE r1 ALTER COLUMN a TYPE bigint;
ALTER TABLE r1 ALTER COLUMN a SET DATA TYPE bigint;
ALTER TABLE r1 RENAME COLUMN a TO aa;
SELECT id, aa FROM r1 ORDER BY id;
ALTER TABLE r1 RENAME TO r2;
SELECT id, b FROM r2 ORDER BY id;
SELECT * FROM r1;
ALTER TABLE r2 RENAME CONSTRAINT r1_pkey TO r2_pkey;
ALTER INDEX t2_b_key RENAME TO t2_b_uniq;
ALTER INDEX IF EXISTS t2_b_uniq RENAME TO t2_b_key;

-- Views, sequences and foreign keys
CREATE TABLE vbase (id int PRIMARY KEY, b text);
INSERT INTO vbase VALUES (1, 'x'), (2, 'y');
CREATE VIEW v1 AS SELECT id, b FROM vbase;
SELECT * FROM v1 ORDER BY id;
CREATE OR REPLACE VIEW v1 AS SELECT id, b FROM vbase WHERE id > 1;
SELECT * FROM v1;
DROP VIEW v1;
DROP VIEW IF EXISTS v1;
CREATE SEQUENCE s1;
CREATE SEQUENCE IF NOT EXISTS s1;
CREATE SEQUENCE s2 START WITH 100 INCREMENT BY 10;
SELECT nextval('s1');
SELECT nextval('s2'), nextval('s2');
SELECT currval('s2');
DROP SEQUENCE s1;
DROP SEQUENCE IF EXISTS s1;
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (2, 99);
CREATE TABLE child2 (id int PRIMARY KEY, parent_id int, FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);
ALTER TABLE child2 ADD CONSTRAINT child2_parent_fk2 FOREIGN KEY (parent_id) REFERENCES parent (id);

-- TRUNCATE
INSERT INTO t7 VALUES (1), (2), (3);
TRUNCATE t7;
SELECT count(*) FROM t7;
INSERT INTO t7 VALUES (1);
TRUNCATE TABLE t7, t6;
SELECT (SELECT count(*) FROM t7) + (SELECT count(*) FROM t6);
TRUNCATE nosuch;
INSERT INTO t8 (label) VALUES ('c');
TRUNCATE t8 RESTART IDENTITY;
INSERT INTO t8 (label) VALUES ('after') RETURNING id;
TRUNCATE t9;
INSERT INTO t9 DEFAULT VALUES RETURNING id;

-- DROP TABLE
DROP TABLE t3;
DROP TABLE t3;
DROP TABLE IF EXISTS t3;
DROP TABLE IF EXISTS t3, t4;
DROP TABLE t5, t6;
DROP TABLE "Quoted Table";
DROP TABLE nosuch;
DROP TABLE t4;
SELECT * FROM t4;
CREATE TABLE t4 (id int PRIMARY KEY, other text);
INSERT INTO t4 VALUES (1, 'recreated');
SELECT * FROM t4;
DROP TABLE IF EXISTS child, child2, parent CASCADE;
DROP TABLE t14 RESTRICT;

-- Schemas
CREATE SCHEMA app;
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE app.things (id int PRIMARY KEY);
DROP SCHEMA app CASCADE;
