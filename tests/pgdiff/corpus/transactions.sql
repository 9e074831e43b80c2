-- Transactions as applications drive them: BEGIN/COMMIT/ROLLBACK, savepoints, errors inside a
-- transaction (25P02 until ROLLBACK), reads of the transaction's own writes, isolation syntax.

CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL CHECK (balance >= 0));
INSERT INTO acct VALUES (1, 'ann', 100.00), (2, 'bob', 50.00), (3, 'cy', 0.00);

-- Commit: own writes visible inside, kept after
BEGIN;
UPDATE acct SET balance = balance - 10 WHERE id = 1;
UPDATE acct SET balance = balance + 10 WHERE id = 2;
SELECT id, balance FROM acct ORDER BY id;
INSERT INTO acct VALUES (4, 'dee', 5.00);
SELECT count(*) FROM acct;
DELETE FROM acct WHERE id = 3;
SELECT id FROM acct ORDER BY id;
COMMIT;
SELECT id, owner, balance FROM acct ORDER BY id;

-- Rollback: nothing kept
BEGIN;
INSERT INTO acct VALUES (5, 'eve', 1.00);
UPDATE acct SET owner = 'ANN' WHERE id = 1;
DELETE FROM acct WHERE id = 2;
SELECT id, owner FROM acct ORDER BY id;
ROLLBACK;
SELECT id, owner, balance FROM acct ORDER BY id;

-- The other spellings
START TRANSACTION;
UPDATE acct SET balance = balance + 1 WHERE id = 4;
COMMIT WORK;
BEGIN WORK;
UPDATE acct SET balance = balance + 1 WHERE id = 4;
ROLLBACK WORK;
BEGIN TRANSACTION;
UPDATE acct SET balance = balance + 1 WHERE id = 4;
END;
BEGIN;
UPDATE acct SET balance = balance + 100 WHERE id = 4;
ABORT;
SELECT balance FROM acct WHERE id = 4;

-- COMMIT/ROLLBACK with no transaction, BEGIN inside one
COMMIT;
ROLLBACK;
BEGIN;
BEGIN;
SELECT count(*) FROM acct;
COMMIT;
COMMIT;

-- An error inside a transaction: 25P02 until the end, COMMIT then rolls back
BEGIN;
INSERT INTO acct VALUES (10, 'ten', 10.00);
INSERT INTO acct VALUES (1, 'dup', 1.00);
SELECT count(*) FROM acct;
INSERT INTO acct VALUES (11, 'eleven', 11.00);
UPDATE acct SET balance = 0;
SHOW transaction_isolation;
COMMIT;
SELECT count(*) FROM acct WHERE id IN (10, 11);

BEGIN;
UPDATE acct SET balance = balance - 1000 WHERE id = 1;
SELECT count(*) FROM acct;
ROLLBACK;
SELECT balance FROM acct WHERE id = 1;

BEGIN;
SELECT 1 / 0;
SELECT count(*) FROM acct;
ROLLBACK;

BEGIN;
SELEC count(*) FROM acct;
SELECT count(*) FROM acct;
ROLLBACK;

BEGIN;
SELECT * FROM no_such_table;
INSERT INTO acct VALUES (12, 'twelve', 12.00);
END;
SELECT count(*) FROM acct WHERE id = 12;

BEGIN;
INSERT INTO acct (id, balance) VALUES (13, 1.00);
ROLLBACK;

-- Savepoints
BEGIN;
INSERT INTO acct VALUES (20, 'sp', 1.00);
SAVEPOINT a;
INSERT INTO acct VALUES (21, 'sp', 1.00);
SELECT id FROM acct WHERE owner = 'sp' ORDER BY id;
ROLLBACK TO SAVEPOINT a;
SELECT id FROM acct WHERE owner = 'sp' ORDER BY id;
INSERT INTO acct VALUES (22, 'sp', 1.00);
RELEASE SAVEPOINT a;
COMMIT;
SELECT id FROM acct WHERE owner = 'sp' ORDER BY id;

-- A savepoint recovers from an error
BEGIN;
INSERT INTO acct VALUES (30, 'rec', 1.00);
SAVEPOINT before_dup;
INSERT INTO acct VALUES (1, 'dup', 1.00);
SELECT count(*) FROM acct;
ROLLBACK TO before_dup;
SELECT id FROM acct WHERE owner = 'rec';
INSERT INTO acct VALUES (31, 'rec', 1.00);
COMMIT;
SELECT id FROM acct WHERE owner = 'rec' ORDER BY id;

-- Nested savepoints, the same name twice, RELEASE then ROLLBACK TO
BEGIN;
SAVEPOINT s1;
INSERT INTO acct VALUES (40, 'nest', 1.00);
SAVEPOINT s2;
INSERT INTO acct VALUES (41, 'nest', 1.00);
SAVEPOINT s3;
INSERT INTO acct VALUES (42, 'nest', 1.00);
ROLLBACK TO SAVEPOINT s2;
SELECT id FROM acct WHERE owner = 'nest' ORDER BY id;
ROLLBACK TO SAVEPOINT s3;
ROLLBACK TO SAVEPOINT s1;
SELECT count(*) FROM acct WHERE owner = 'nest';
SAVEPOINT s1;
INSERT INTO acct VALUES (43, 'nest', 1.00);
SAVEPOINT s1;
INSERT INTO acct VALUES (44, 'nest', 1.00);
ROLLBACK TO s1;
RELEASE s1;
SELECT id FROM acct WHERE owner = 'nest' ORDER BY id;
RELEASE s1;
ROLLBACK;
SELECT count(*) FROM acct WHERE owner = 'nest';

BEGIN;
SAVEPOINT x;
RELEASE SAVEPOINT x;
ROLLBACK TO SAVEPOINT x;
ROLLBACK;

BEGIN;
ROLLBACK TO SAVEPOINT never;
ROLLBACK;

-- Savepoints outside a transaction
SAVEPOINT outside;
RELEASE SAVEPOINT outside;
ROLLBACK TO SAVEPOINT outside;

-- Isolation levels and access modes
BEGIN ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
SELECT count(*) FROM acct;
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM acct;
COMMIT;
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT count(*) FROM acct;
COMMIT;
BEGIN TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;
COMMIT;
START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE;
COMMIT;
BEGIN;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
COMMIT;
BEGIN;
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
COMMIT;
BEGIN;
SELECT count(*) FROM acct;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
ROLLBACK;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
SHOW default_transaction_isolation;
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SHOW default_transaction_isolation;
BEGIN;
SHOW transaction_isolation;
COMMIT;
SET default_transaction_isolation = 'serializable';
SELECT current_setting('transaction_isolation');

-- Read-only transactions
BEGIN READ ONLY;
SELECT count(*) FROM acct;
SHOW transaction_read_only;
INSERT INTO acct VALUES (50, 'ro', 1.00);
ROLLBACK;
BEGIN;
SET TRANSACTION READ ONLY;
UPDATE acct SET balance = 0 WHERE id = 1;
ROLLBACK;
BEGIN TRANSACTION READ WRITE;
SHOW transaction_read_only;
COMMIT;

-- DDL inside a transaction
BEGIN;
CREATE TABLE tx_tmp (id int PRIMARY KEY);
INSERT INTO tx_tmp VALUES (1);
SELECT * FROM tx_tmp;
ROLLBACK;
SELECT * FROM tx_tmp;
BEGIN;
CREATE TABLE tx_kept (id int PRIMARY KEY);
INSERT INTO tx_kept VALUES (1), (2);
COMMIT;
SELECT count(*) FROM tx_kept;
BEGIN;
TRUNCATE tx_kept;
SELECT count(*) FROM tx_kept;
ROLLBACK;
SELECT count(*) FROM tx_kept;
BEGIN;
DROP TABLE tx_kept;
ROLLBACK;
SELECT count(*) FROM tx_kept;

-- Upserts, RETURNING and locking reads inside a transaction
BEGIN;
INSERT INTO acct VALUES (60, 'up', 1.00) ON CONFLICT (id) DO NOTHING;
INSERT INTO acct VALUES (60, 'up', 2.00) ON CONFLICT (id) DO UPDATE SET balance = acct.balance + EXCLUDED.balance;
SELECT balance FROM acct WHERE id = 60;
UPDATE acct SET balance = balance * 2 WHERE id = 60 RETURNING balance;
SELECT id, balance FROM acct WHERE id = 1 FOR UPDATE;
SELECT id FROM acct WHERE id IN (1, 2) ORDER BY id FOR UPDATE;
SELECT id FROM acct WHERE id = 2 FOR SHARE;
DELETE FROM acct WHERE id = 60 RETURNING id, owner;
COMMIT;
SELECT count(*) FROM acct WHERE id = 60;

-- A check violation inside a transfer rolls the whole transfer back
BEGIN;
UPDATE acct SET balance = balance + 500 WHERE id = 2;
UPDATE acct SET balance = balance - 500 WHERE id = 1;
COMMIT;
SELECT id, balance FROM acct WHERE id IN (1, 2) ORDER BY id;

-- Time functions are fixed for the transaction
BEGIN;
SELECT now() = transaction_timestamp(), now() = current_timestamp;
SELECT txid_current() > 0;
COMMIT;

-- SET LOCAL lasts for the transaction only
BEGIN;
SET LOCAL statement_timeout = '5s';
SHOW statement_timeout;
COMMIT;
SHOW statement_timeout;

-- The final state
SELECT id, owner, balance FROM acct ORDER BY id;
