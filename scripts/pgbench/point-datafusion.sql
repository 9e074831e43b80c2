\set aid random(1, 100000 * :scale)
-- the extra predicate keeps the statement off the point fast path: DataFusion plans it (still one point get)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid AND abalance > -2147483648;
