"""Numerics at every precision limit through psycopg 3, in both wire formats: parameters sent
as binary (`%b`) and as text (`%t`), results read by a text and by a binary cursor. psycopg's
binary numeric codec is an implementation of PostgreSQL's format independent of Atoll's.

Run by tests/it/python.rs with a PostgreSQL URL as the only argument; raises on a wrong answer.
"""

import sys
from decimal import Decimal

import psycopg
from psycopg import errors


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def limits():
    """(column type, values) at the edges of each precision and scale Atoll's numeric holds."""
    nines = lambda n: "9" * n
    return [
        ("NUMERIC(38, 0)", [nines(38), "-" + nines(38), "0", "1", "-1", "10000", "100000000"]),
        ("NUMERIC(38, 10)", [nines(28) + "." + nines(10), "9000000000000000000000000000", "-0.0000000001"]),
        ("NUMERIC(38, 38)", ["0." + nines(38), "-0." + "0" * 37 + "1", "0.5"]),
        ("NUMERIC(10, 2)", ["12345678.90", "-0.01", "0.25"]),
        ("NUMERIC(1, 0)", ["9", "-9"]),
        ("DECIMAL", ["9000000000000000000000000000", "-1.5", "0.0001"]),
    ]


def main(url):
    with psycopg.connect(url, autocommit=True) as conn:
        for number, (column, values) in enumerate(limits()):
            table = f"n{number}"
            conn.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v {column})")
            for i, value in enumerate(values):
                placeholder = "%b" if i % 2 == 0 else "%t"
                conn.execute(f"INSERT INTO {table} VALUES (%s, {placeholder})", (i, Decimal(value)))
            for binary in (False, True):
                with conn.cursor(binary=binary) as cur:
                    rows = cur.execute(f"SELECT v FROM {table} ORDER BY id").fetchall()
                got = [row[0] for row in rows]
                want = [Decimal(v) for v in values]
                check(got == want, f"{column} binary={binary}: {got} != {want}")
                # A binary parameter compares exactly on the server.
                with conn.cursor(binary=binary) as cur:
                    (count,) = cur.execute(f"SELECT count(*) FROM {table} WHERE v = %b", (want[0],)).fetchone()
                check(count == 1, f"{column}: {want[0]} matched {count} rows")
        # Out of range: 39 digits, in both formats.
        for placeholder in ("%b", "%t"):
            try:
                conn.execute(f"INSERT INTO n0 VALUES (100, {placeholder})", (Decimal("1" + "0" * 38),))
                raise AssertionError(f"39 digits accepted through {placeholder}")
            except errors.NumericValueOutOfRange:
                pass
        # NaN: PostgreSQL stores it; Atoll's decimals have none and refuse it with 22003.
        # Either way, never a different value.
        for i, placeholder in enumerate(("%b", "%t")):
            try:
                conn.execute(f"INSERT INTO n0 VALUES ({200 + i}, {placeholder})", (Decimal("NaN"),))
                (stored,) = conn.execute(f"SELECT v FROM n0 WHERE id = {200 + i}").fetchone()
                check(stored.is_nan(), f"NaN stored as {stored}")
            except errors.NumericValueOutOfRange:
                pass
        check(conn.execute("SELECT 1").fetchone() == (1,), "the connection goes on")
    print("numerics: ok")


if __name__ == "__main__":
    main(sys.argv[1])
