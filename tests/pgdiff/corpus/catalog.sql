-- What drivers, ORMs and psql ask the catalog: session settings, information_schema and
-- pg_catalog lookups of this file's own tables (never of other databases or roles).

CREATE TABLE products (
    id serial PRIMARY KEY,
    sku varchar(20) NOT NULL UNIQUE,
    name text NOT NULL,
    price numeric(10,2) DEFAULT 0,
    weight double precision,
    stock integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    active boolean DEFAULT true,
    created timestamp,
    code char(4)
);
CREATE INDEX products_name_idx ON products (name);
CREATE TABLE tags (product_id int NOT NULL, tag text NOT NULL, weight smallint, PRIMARY KEY (product_id, tag));
CREATE UNIQUE INDEX tags_tag_key ON tags (tag, product_id);
CREATE TABLE notes (id bigint PRIMARY KEY, body text, added date, blob bytea, u uuid, doc jsonb, span interval, at timestamptz, r real);

-- Session functions
SELECT current_database();
SELECT current_schema();
SELECT current_schema;
SELECT current_catalog;
-- pgdiff: error-only
SELECT version();
-- pgdiff: error-only
SELECT current_user;
-- pgdiff: error-only
SELECT session_user;
SELECT current_schemas(false);
SELECT current_schemas(true);
SELECT pg_backend_pid() > 0;
SELECT pg_is_in_recovery();

-- Settings drivers read at connect time
-- pgdiff: error-only
SHOW server_version;
SELECT current_setting('server_version_num')::int / 10000;
SHOW server_version_num;
SHOW standard_conforming_strings;
SHOW client_encoding;
SHOW server_encoding;
SHOW DateStyle;
SHOW TimeZone;
SHOW integer_datetimes;
SHOW IntervalStyle;
SHOW search_path;
SHOW max_identifier_length;
SHOW default_transaction_read_only;
SHOW extra_float_digits;
SHOW application_name;
SHOW lc_collate;
SHOW nosuch_setting;
SELECT current_setting('standard_conforming_strings');
SELECT current_setting('client_encoding'), current_setting('DateStyle');
SELECT current_setting('TimeZone');
SELECT current_setting('search_path');
SELECT current_setting('max_identifier_length')::int;
SELECT current_setting('nosuch_setting');
SELECT current_setting('nosuch_setting', true);
SELECT name, setting FROM pg_settings WHERE name IN ('standard_conforming_strings', 'integer_datetimes', 'max_identifier_length') ORDER BY name;

-- SET as drivers send it
SET client_encoding TO 'UTF8';
SET DateStyle = 'ISO, MDY';
SET TimeZone = 'UTC';
SET extra_float_digits = 3;
SHOW extra_float_digits;
SET application_name = 'pgdiff';
SHOW application_name;
SET search_path TO public;
SHOW search_path;
SET search_path = "$user", public;
SET SESSION statement_timeout = 0;
SET nosuch_setting = 1;
SELECT set_config('application_name', 'pgdiff2', false);
SHOW application_name;
RESET application_name;
SHOW application_name;
SET standard_conforming_strings = on;
SELECT 'a\b';

-- information_schema.tables
SELECT table_catalog = current_database(), table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name;
SELECT table_name FROM information_schema.tables WHERE table_name = 'products';
SELECT table_name FROM information_schema.tables WHERE table_name = 'nosuch';
SELECT count(*) FROM information_schema.tables WHERE table_schema = 'pg_catalog' AND table_name = 'pg_class';
SELECT table_name, is_insertable_into FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name;

-- information_schema.columns
SELECT column_name, ordinal_position, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'products' ORDER BY ordinal_position;
SELECT column_name, column_default FROM information_schema.columns WHERE table_name = 'products' ORDER BY ordinal_position;
SELECT column_name, character_maximum_length, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name = 'products' ORDER BY ordinal_position;
SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'products' ORDER BY ordinal_position;
SELECT column_name, data_type, udt_name FROM information_schema.columns WHERE table_name = 'notes' ORDER BY ordinal_position;
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'tags' ORDER BY ordinal_position;
SELECT table_name, count(*) FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name ORDER BY table_name;
SELECT column_name FROM information_schema.columns WHERE table_name = 'nosuch';
SELECT datetime_precision FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'created';

-- information_schema constraints
SELECT constraint_name, constraint_type FROM information_schema.table_constraints WHERE table_name = 'products' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') ORDER BY constraint_name;
SELECT constraint_type, count(*) FROM information_schema.table_constraints WHERE table_name = 'tags' AND constraint_type <> 'CHECK' GROUP BY constraint_type ORDER BY constraint_type;
SELECT kcu.column_name, kcu.ordinal_position FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name AND tc.table_name = kcu.table_name WHERE tc.table_name = 'tags' AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position;
SELECT column_name FROM information_schema.key_column_usage WHERE table_name = 'products' ORDER BY column_name;
SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ('public', 'pg_catalog', 'information_schema') ORDER BY schema_name;
SELECT count(*) FROM information_schema.views WHERE table_schema = 'public';
SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY sequence_name;

-- pg_namespace, pg_class
SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname IN ('public', 'pg_catalog', 'information_schema') ORDER BY nspname;
SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY c.relname;
SELECT relname, relkind FROM pg_class WHERE relname IN ('products', 'tags', 'notes') ORDER BY relname;
SELECT relname, relnatts, relhasindex FROM pg_class WHERE relname IN ('products', 'tags', 'notes') ORDER BY relname;
SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE 'products%' ORDER BY relname;
SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE 'products%';
SELECT count(*) FROM pg_class WHERE relname = 'nosuch';
SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'products';
SELECT relname FROM pg_class WHERE oid = 'products'::regclass;
SELECT 'products'::regclass;
SELECT 'public.products'::regclass::text;
SELECT 'nosuch'::regclass;
SELECT to_regclass('products')::text, to_regclass('nosuch');
SELECT pg_table_is_visible('products'::regclass);

-- pg_attribute, pg_type
SELECT a.attname, a.attnum, a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'products'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = 'notes'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'products'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT a.atttypid::int, a.atttypmod FROM pg_attribute a WHERE a.attrelid = 'products'::regclass AND a.attname IN ('sku', 'price', 'code') ORDER BY a.attname;
SELECT a.attname, a.atthasdef FROM pg_attribute a WHERE a.attrelid = 'products'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT oid::int, typname, typlen, typtype FROM pg_catalog.pg_type WHERE typname IN ('int2', 'int4', 'int8', 'text', 'varchar', 'bool', 'numeric', 'float8', 'timestamp', 'date', 'uuid', 'jsonb', 'bytea') ORDER BY typname;
SELECT typname, typarray::int FROM pg_type WHERE oid = 23;
SELECT typname FROM pg_type WHERE oid = 1043;
SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'pg_catalog' AND t.typname = 'int4';
SELECT 23::regtype, 'integer'::regtype::oid::int, 'varchar'::regtype;
SELECT format_type(1043, 24), format_type(1700, 655366), format_type(23, NULL);

-- pg_index, pg_constraint, pg_attrdef
SELECT ic.relname, i.indisunique, i.indisprimary FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = 'products'::regclass ORDER BY ic.relname;
SELECT ic.relname, i.indnatts FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = 'tags'::regclass ORDER BY ic.relname;
SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'tags'::regclass ORDER BY 1;
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'products' ORDER BY indexname;
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'products'::regclass ORDER BY conname;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'tags'::regclass ORDER BY conname;
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'products'::regclass ORDER BY a.attnum;
SELECT pg_get_serial_sequence('products', 'id');
SELECT obj_description('products'::regclass, 'pg_class');
SELECT col_description('products'::regclass, 1);

-- pg_tables, pg_database
SELECT schemaname, tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename;
SELECT tablename, hasindexes FROM pg_tables WHERE tablename = 'products';
SELECT datname FROM pg_database WHERE datname = current_database();
SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();
SELECT datallowconn, datistemplate FROM pg_database WHERE datname = current_database();
SELECT has_table_privilege('products', 'SELECT');
SELECT has_schema_privilege('public', 'USAGE');

-- psql's \dt (without the owner column)
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;

-- psql's \d products: the columns part
SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'products'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

-- psql's \di (without the owner column)
SELECT n.nspname as "Schema", c.relname as "Name", c2.relname as "Table"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid
WHERE c.relkind IN ('i','I','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;

-- SQLAlchemy's has_table and get_table_names
SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relname = 'products' AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog';
SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_namespace.nspname = 'public' ORDER BY pg_catalog.pg_class.relname;

-- The catalog follows DDL
ALTER TABLE products ADD COLUMN note text;
SELECT column_name FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'note';
ALTER TABLE products DROP COLUMN weight;
SELECT column_name FROM information_schema.columns WHERE table_name = 'products' ORDER BY ordinal_position;
SELECT attname FROM pg_attribute WHERE attrelid = 'products'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
CREATE INDEX notes_added_idx ON notes (added);
SELECT indexname FROM pg_indexes WHERE tablename = 'notes' ORDER BY indexname;
DROP INDEX notes_added_idx;
SELECT indexname FROM pg_indexes WHERE tablename = 'notes' ORDER BY indexname;
DROP TABLE tags;
SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name;
SELECT count(*) FROM pg_class WHERE relname = 'tags';
