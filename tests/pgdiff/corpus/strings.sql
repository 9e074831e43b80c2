-- String functions and operators applications use.

CREATE TABLE people (id integer PRIMARY KEY, first_name text, last_name varchar(40), code char(4), email text, note text);
INSERT INTO people VALUES
    (1, 'alice', 'Smith', 'A1', 'alice@example.com', 'likes tea'),
    (2, 'Bob', 'jones', 'B22', 'BOB@Example.ORG', NULL),
    (3, 'carol ann', 'O''Brien', 'C333', 'carol.ann@mail.example.net', '  padded  '),
    (4, 'Dávid', 'Żółć', 'D', 'david@example.com', 'naïve café'),
    (5, NULL, NULL, NULL, NULL, '');
SELECT * FROM people ORDER BY id;

-- Concatenation
SELECT 'foo' || 'bar', 'foo' || NULL, NULL || 'bar';
SELECT 'n=' || 42, 42 || '!', 'x' || 1.5, 'b' || true;
SELECT 'd: ' || date '2024-01-15';
SELECT first_name || ' ' || last_name FROM people ORDER BY id;
SELECT code || '|' FROM people ORDER BY id;
SELECT concat('a', 'b', 'c'), concat('a', NULL, 'c'), concat(1, 2.5, true);
SELECT concat(NULL), concat(NULL, NULL);
SELECT concat_ws(', ', 'a', 'b', 'c'), concat_ws('-', 'a', NULL, 'c'), concat_ws(NULL, 'a', 'b');
SELECT concat_ws(' ', first_name, last_name) FROM people ORDER BY id;

-- Length
SELECT length('hello'), length(''), length(NULL::text), length('héllo');
SELECT char_length('héllo'), character_length('abc'), octet_length('héllo'), bit_length('abc');
SELECT length('abc  '), length('abc  '::char(6)), length('abc  '::varchar(6));
SELECT id, length(first_name), length(code), octet_length(last_name) FROM people ORDER BY id;

-- Case
SELECT upper('hello World'), lower('HELLO World'), upper(NULL);
SELECT upper('straße'), lower('ÀÉÎ'), upper('naïve');
SELECT initcap('hello world'), initcap('HELLO wORLD'), initcap('o''neil mc-donald'), initcap('a1b c_d');
SELECT id, upper(first_name), lower(email) FROM people ORDER BY id;

-- substring / substr
SELECT substring('hello world' FROM 1 FOR 5), substring('hello world' FROM 7), substring('hello' FOR 2);
SELECT substring('hello', 0, 3), substring('hello', -1, 3), substring('hello', 4, 100), substring('hello', 10);
SELECT substr('hello', 2), substr('hello', 2, 3), substr('héllo', 2, 2);
SELECT substring('hello', 2, -1);
SELECT substring('abc123def' FROM '[0-9]+'), substring('no digits' FROM '[0-9]+');
SELECT substring('foobar' FROM 'o(.)b');
SELECT id, substring(email FROM position('@' IN email) + 1) FROM people ORDER BY id;

-- position / strpos
SELECT position('lo' IN 'hello'), position('x' IN 'hello'), position('' IN 'hello');
SELECT strpos('hello', 'l'), strpos('héllo', 'l'), strpos(NULL, 'a');
SELECT id, position('@' IN email) FROM people ORDER BY id;

-- trim family
SELECT trim('  both  '), ltrim('  left  '), rtrim('  right  ');
SELECT '[' || trim('  x  ') || ']', '[' || ltrim('  x  ') || ']', '[' || rtrim('  x  ') || ']';
SELECT trim(BOTH 'x' FROM 'xxhixx'), trim(LEADING 'x' FROM 'xxhixx'), trim(TRAILING 'x' FROM 'xxhixx');
SELECT trim('xy' FROM 'xyxhiyx'), ltrim('xyxhi', 'xy'), rtrim('hixyx', 'xy');
SELECT btrim('  hi  '), btrim('--hi--', '-');
SELECT trim(FROM '  spaced  ');
SELECT id, '[' || trim(note) || ']' FROM people ORDER BY id;

-- replace, translate, overlay
SELECT replace('hello world', 'o', '0'), replace('aaa', 'a', 'bb'), replace('abc', '', 'x'), replace('abc', 'b', '');
SELECT replace(NULL, 'a', 'b'), replace('abc', 'b', NULL);
SELECT translate('hello', 'el', 'ip'), translate('12345', '135', 'ab');
SELECT overlay('Txxxxas' PLACING 'hom' FROM 2 FOR 4), overlay('hello' PLACING 'XY' FROM 3);
SELECT id, replace(email, '@', ' at ') FROM people ORDER BY id;

-- split_part, left, right
SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', 4), split_part('a,b,c', ',', -1);
SELECT split_part('abc', '', 1), split_part('a::b::c', '::', 3), split_part('', ',', 1);
SELECT split_part('a,b', ',', 0);
SELECT id, split_part(email, '@', 1), split_part(email, '@', 2) FROM people ORDER BY id;
SELECT left('hello', 2), left('hello', -2), left('hello', 10), left('hello', 0);
SELECT right('hello', 2), right('hello', -2), right('hello', 10), right('héllo', 4);
SELECT id, left(first_name, 1) || left(last_name, 1) AS initials FROM people ORDER BY id;

-- pad
SELECT lpad('42', 5, '0'), lpad('42', 5), rpad('ab', 5, 'xy'), rpad('ab', 5);
SELECT lpad('hello', 3), rpad('hello', 3), lpad('x', 0), lpad('x', -1);
SELECT lpad('x', 4, ''), rpad('é', 3, 'ü');
SELECT id, lpad(id::text, 4, '0'), rpad(coalesce(code, '?'), 6, '.') FROM people ORDER BY id;

-- repeat, reverse, ascii, chr
SELECT repeat('ab', 3), repeat('x', 0), repeat('x', -1), repeat(NULL, 2);
SELECT reverse('hello'), reverse(''), reverse('héllo');
SELECT ascii('A'), ascii(''), ascii('é'), chr(65), chr(233);
SELECT chr(0);

-- starts_with, like, ilike, similar to
SELECT starts_with('hello', 'he'), starts_with('hello', 'lo'), starts_with('hello', '');
SELECT 'hello' ^@ 'he';
SELECT 'hello' LIKE 'h%', 'hello' LIKE '_ello', 'hello' LIKE 'H%', 'hello' LIKE 'hel', 'hello' NOT LIKE '%z%';
SELECT 'hello' ILIKE 'H%', 'HeLLo' ILIKE '%ll%', 'hello' NOT ILIKE 'X%';
SELECT '50%' LIKE '50\%', '50x' LIKE '50\%', 'a_b' LIKE 'a\_b', 'axb' LIKE 'a\_b';
SELECT 'a%b' LIKE 'a#%b' ESCAPE '#';
SELECT 'abc' LIKE NULL, NULL LIKE 'a%', '' LIKE '%', '' LIKE '_';
SELECT 'hello' ~~ 'h%', 'hello' ~~* 'H%', 'hello' !~~ 'h%';
SELECT id, first_name FROM people WHERE first_name LIKE '%a%' ORDER BY id;
SELECT id, email FROM people WHERE email ILIKE '%example.com' ORDER BY id;
SELECT id FROM people WHERE last_name LIKE 'O''%' ORDER BY id;
SELECT id FROM people WHERE code LIKE 'B2%' ORDER BY id;
SELECT 'abc' SIMILAR TO 'a%', 'abc' SIMILAR TO '(a|b)c', 'abc' SIMILAR TO '[a-c]+';

-- Regular expressions
SELECT 'hello' ~ '^h', 'hello' ~ 'L', 'hello' ~* 'L', 'hello' !~ 'z', 'hello' !~* 'H';
SELECT 'abc123' ~ '^[a-z]+[0-9]+$', 'abc' ~ '\d';
SELECT regexp_replace('hello world', 'o', '0'), regexp_replace('hello world', 'o', '0', 'g');
SELECT regexp_replace('John Smith', '(\w+) (\w+)', '\2, \1');
SELECT regexp_replace('aAbB', '[a-z]', '', 'g'), regexp_replace('aAbB', 'a', 'x', 'gi');
SELECT regexp_replace('  many   spaces  ', '\s+', ' ', 'g');
SELECT regexp_match('foobarbequebaz', 'bar(.*)que'), regexp_match('abc', 'z');
SELECT regexp_match('2024-01-15', '(\d+)-(\d+)-(\d+)');
SELECT (regexp_match('key=value', '(\w+)=(\w+)'))[2];
SELECT regexp_matches('a1b2c3', '[0-9]', 'g') ORDER BY 1;
SELECT regexp_split_to_array('a, b,c', ',\s*'), regexp_split_to_array('hello', '');
SELECT regexp_split_to_table('one two  three', '\s+') AS w ORDER BY w;
SELECT regexp_count('banana', 'an'), regexp_instr('banana', 'an'), regexp_like('banana', '^b');
SELECT regexp_substr('abc123def456', '\d+');
SELECT 'abc' ~ '(';
SELECT regexp_replace('abc', '[', 'x');
SELECT id, regexp_replace(email, '@.*$', '') FROM people ORDER BY id;
SELECT id FROM people WHERE email ~* '^[a-z]+@example\.(com|org)$' ORDER BY id;

-- md5 and other hashes, encode
SELECT md5('hello'), md5(''), md5(NULL);
SELECT md5('The quick brown fox jumps over the lazy dog');
SELECT sha256('hello'::bytea);
SELECT encode('hello'::bytea, 'hex'), encode('hello'::bytea, 'escape');
SELECT to_hex(255), to_hex(-1), to_hex(4294967296);

-- format
SELECT format('Hello %s', 'World'), format('%s + %s = %s', 1, 2, 3);
SELECT format('%I', 'my table'), format('%I', 'simple'), format('%L', 'it''s'), format('%L', NULL);
SELECT format('%s|%s', NULL, 'x'), format('%%'), format('%5s|%-5s|', 'a', 'b');
SELECT format('%2$s %1$s', 'world', 'hello');
SELECT format('%s %s', 'only one');
SELECT format('%z', 1);

-- quote functions
SELECT quote_ident('simple'), quote_ident('Mixed Case'), quote_ident('select');
SELECT quote_literal('it''s'), quote_literal(42), quote_nullable(NULL), quote_nullable('x');

-- string_agg, array_to_string, string_to_array
SELECT string_agg(first_name, ', ' ORDER BY id) FROM people;
SELECT string_agg(code, '') FROM people WHERE id < 3;
SELECT string_agg(first_name, ',') FROM people WHERE id > 100;
SELECT array_to_string(ARRAY['a', 'b', NULL, 'c'], ','), array_to_string(ARRAY['a', NULL], ',', '*');
SELECT string_to_array('a,b,,c', ','), string_to_array('a b c', ' '), string_to_array('abc', NULL);
SELECT string_to_array('a,b,c', ',', 'b');

-- Comparison and sorting
SELECT 'a' < 'b', 'a' < 'B', 'abc' < 'abcd', 'Z' < 'a', '10' < '9';
SELECT 'abc' = 'abc', 'abc' = 'ABC', 'abc' <> 'abd', lower('ABC') = 'abc';
SELECT 'abc' = 'abc '::char(4), 'abc'::char(4) = 'abc '::char(5);
SELECT first_name FROM people ORDER BY first_name;
SELECT first_name FROM people ORDER BY first_name DESC NULLS LAST;
SELECT last_name FROM people ORDER BY lower(last_name), id;
SELECT code FROM people ORDER BY code;
SELECT min(first_name), max(first_name), min(code), max(last_name) FROM people;
SELECT first_name, count(*) FROM people GROUP BY first_name ORDER BY first_name;
SELECT DISTINCT lower(split_part(email, '@', 2)) AS domain FROM people ORDER BY domain;
SELECT 'abc' COLLATE "C" < 'abd';

-- Casts to and from text
SELECT 123::text, 12.50::text, (-7)::text, 1e3::text, true::text;
SELECT '123'::int + 1, '  7 '::bigint, '3.14'::numeric * 2;
SELECT CAST(id AS text) || ':' || coalesce(first_name, '<null>') FROM people ORDER BY id;
SELECT 'abc'::varchar(2), 'abc'::char(2), 'abc'::varchar;
SELECT 'x'::text::varchar(5)::char(3) || '|';
SELECT text 'typed', varchar 'typed';

-- NULL handling in string functions
SELECT upper(NULL), lower(NULL), length(NULL), trim(NULL), substring(NULL, 1, 2), left(NULL, 1);
SELECT coalesce(note, 'none'), nullif(note, '') FROM people ORDER BY id;
SELECT id FROM people WHERE note = '' ORDER BY id;
SELECT id FROM people WHERE note IS NULL ORDER BY id;
SELECT id, coalesce(nullif(trim(note), ''), '(blank)') FROM people ORDER BY id;

-- Errors
SELECT repeat('x', 2147483647);
SELECT lpad('x', 2147483647);
SELECT substring('hello' FROM 'x(' );
SELECT chr(-1);
SELECT 'abc' || ARRAY[1];
SELECT length(42);
SELECT upper(42);
SELECT ascii(5);
SELECT 'abc'::varchar(0);

-- Updating text columns
UPDATE people SET first_name = initcap(first_name) WHERE id < 5;
UPDATE people SET email = lower(email) RETURNING id, email;
UPDATE people SET code = 'LONGER' WHERE id = 1;
UPDATE people SET last_name = repeat('x', 41) WHERE id = 1;
UPDATE people SET note = note || ' and coffee' WHERE id = 1 RETURNING note;
INSERT INTO people (id, first_name, code) VALUES (6, E'tab\there', 'E ') RETURNING first_name, code, length(code);
SELECT id, first_name, code FROM people ORDER BY id;
