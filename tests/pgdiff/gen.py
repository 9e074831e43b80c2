"""Seeded random SQL for the differential test (SQLancer/sqlsmith style).

`pgdiff.py --random-seed S --random-queries N` calls `statements(S, N)` and runs the returned
`(line, sql, flags)` tuples in order on PostgreSQL 15 and on Atoll in a fresh database, comparing
every answer. The same seed always gives the same statements: all randomness comes from one
`random.Random(seed)`, and the generator keeps no global state.

What is generated
  * A schema of 2-3 tables t0..t2: `id integer PRIMARY KEY`, an integer `ref` that mostly holds
    keys of the next table (so joins match rows), and 5-6 more columns of smallint, integer,
    bigint, numeric(10,2), text, boolean, date and double precision, named by type and number
    (sm1, it1, bi1, nu1, tx1, bo1, dt1, fl1).
  * 20-60 rows per table in a few multi-row INSERTs (sometimes with a shuffled column list):
    NULLs, duplicates from small value pools, negatives, edge values (0, -1, 1, the integer
    type's bounds, +-99999999.99, three-decimal numerics that round on insert, empty and
    mixed-case strings, strings with % and _, leap days, years 1 and 9999, -0 and 1e15 as
    double precision). Every fourth seed (seed % 4 == 0) also stores infinite dates, NaN,
    +-Infinity and 1e300, each such row in a one-row INSERT of its own.
  * N statements: ~90% queries, ~10% UPDATE / DELETE / INSERT ... VALUES / INSERT ... SELECT, so
    later queries see changed data. Queries project typed expressions (arithmetic, unary minus,
    abs, round/trunc/ceil/floor, casts, EXTRACT, coalesce/nullif/greatest/least, searched and
    simple CASE, string functions, ||, concat, comparisons), filter with WHERE (comparisons,
    AND/OR/NOT, IS [NOT] NULL, [NOT] BETWEEN [SYMMETRIC], IN lists, LIKE/ILIKE, IS DISTINCT
    FROM, IS TRUE/UNKNOWN, EXISTS, IN/ANY/ALL subqueries), join 1-3 relations (inner, left,
    right, full, cross; base tables, derived tables and CTEs), group with aggregates (count,
    count(DISTINCT), sum, avg, min, max, bool_and/bool_or, FILTER) and HAVING (also grouping by
    a primary key and selecting that table's other columns), SELECT DISTINCT, UNION / EXCEPT /
    INTERSECT [ALL], scalar subqueries (correlated aggregates and key lookups), ORDER BY with
    ASC/DESC/NULLS FIRST/LAST, LIMIT/OFFSET/FETCH.

How the statements stay valid and deterministic
  * Every expression is generated for a wanted category (int, num, text, bool, date) and knows
    its exact PostgreSQL type: smallint/integer/bigint widen as PostgreSQL's operators do,
    integer literals are integer or bigint by value, single-argument round/ceil/floor are only
    applied to numerics (on integers PostgreSQL would pick the double precision version), date
    +- integer only takes smallint/integer. So PostgreSQL should not answer 42xxx.
  * The harness compares rows in order whenever the text says ORDER BY, so ORDER BY is only ever
    the top-level one and always lists every output column (positionally): the order is total.
    LIMIT/OFFSET only come with it. Subqueries never have ORDER BY.
  * Numerics that are equal but print differently (5 and 5.00) would make DISTINCT, GROUP BY,
    set operations and MIN/MAX pick an arbitrary representative, so each numeric expression
    tracks its display scale (None when it depends on the values, as for / and avg), branches
    of CASE/coalesce/greatest with different scales are rounded to 2 places, and DISTINCT,
    GROUP BY and set-operation columns are rounded when their scale is not fixed.
  * Data-dependent errors are wanted (the SQLSTATE is compared), but which error a statement
    raises must not depend on row order or on the planner. So each statement allows at most
    one error class: 22003 (overflow), 22012 (division by zero), 22008 (date out of range) or
    22011 (negative substring length), and only uses risky constructs of that class.
    Predicates (WHERE, ON, HAVING, CASE WHEN, FILTER) and subqueries never contain anything that
    can fail, since PostgreSQL reorders quals and evaluates uncorrelated subqueries lazily.
  * Nothing that could fail is applied to constants only (PostgreSQL folds constants when it
    plans and would fail even on zero rows), and GROUP BY keys are never constants (an integer
    constant there is a column position).
  * double precision is only ever compared, never printed; all strings are ASCII (PostgreSQL
    runs with the C.UTF-8 collation: byte order).
  * A change that answers differently leaves the two databases different, and then every later
    query over that table differs too. So UPDATE, DELETE and INSERT ... SELECT keep to a core
    grammar (comparisons, AND/OR/NOT, IS NULL, BETWEEN, IN lists, LIKE, + - *, coalesce,
    nullif, CASE, ||, date +- integer), and only every fourth seed stores exotic values.
"""

import copy
import datetime
import random
from decimal import ROUND_HALF_UP, Decimal

# SQLSTATEs a statement may be allowed to raise (one class per statement).
OVERFLOW, DIV_ZERO, DATE_RANGE, SUBSTRING = "22003", "22012", "22008", "22011"

SQL_TYPE = {
    "int2": "smallint", "int4": "integer", "int8": "bigint", "numeric": "numeric(10,2)",
    "text": "text", "bool": "boolean", "date": "date", "float8": "double precision",
}
CATEGORY = {
    "int2": "int", "int4": "int", "int8": "int", "numeric": "num", "text": "text",
    "bool": "bool", "date": "date", "float8": "float",
}
PREFIX = {"int2": "sm", "int4": "it", "int8": "bi", "numeric": "nu", "text": "tx", "bool": "bo",
          "date": "dt", "float8": "fl"}
INT_BOUNDS = {"int2": (-2**15, 2**15 - 1), "int4": (-2**31, 2**31 - 1), "int8": (-2**63, 2**63 - 1)}
INT_RANK = {"int2": 0, "int4": 1, "int8": 2}
CATS = ["int", "num", "text", "bool", "date"]
NULL_OF = {"int": ("integer", "int4"), "num": ("numeric", "numeric"), "text": ("text", "text"),
           "bool": ("boolean", "bool"), "date": ("date", "date")}

TEXTS = ["", "a", "A", "ab", "aB", "Ab", "abc", "ABC", "b", "B", "ba", "hello", "Hello", "HELLO",
         "hello world", "x_y", "50%", "a b", " a", "a ", "zz", "Z", "123", "0", "it's", "-"]
LIKE_PATTERNS = ["%", "a%", "%a", "%b%", "_", "__", "A%", "", "a_", "%o w%", "h%o", "%\\%%", "%_%"]
DATES = ["2000-01-01", "2000-02-29", "1999-12-31", "1970-01-01", "2024-02-29", "2024-12-31",
         "2023-06-15", "0001-01-01", "9999-12-31", "2001-03-01"]
FIRST_DATE = datetime.date(1990, 1, 1)
FLOATS = ["0", "0.5", "-1.25", "3", "100", "-0.0", "1e15"]
EXOTIC_FLOATS = ["1e300", "-1e300", "'Infinity'", "'-Infinity'", "'NaN'"]
NUMERIC_EDGES = ["99999999.99", "-99999999.99", "0", "0.01", "-0.01", "-1", "0.005"]
CENT = Decimal("0.01")
# The grammar of changes (UPDATE, DELETE, INSERT ... SELECT): a statement that differs there makes
# every later query differ, so changes keep to what any implementation should have.
CORE_BUILDERS = {"int_arith", "num_arith", "text_concat", "date_shift", "conditional", "b_compare",
                 "b_is_null", "b_between", "b_in_list", "b_like", "b_leaf", "b_and_or", "b_not"}
EXTRACT_FIELDS = ["YEAR", "MONTH", "DAY", "DOW", "DOY", "QUARTER", "WEEK", "EPOCH"]


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def sort_key(v):
    """Orders values of one column as PostgreSQL does (dates are ISO strings or +-infinity)."""
    if v == "-infinity":
        return (0, v)
    if v == "infinity":
        return (2, v)
    return (1, v)


def wider(a, b):
    """The result type of an integer operator on types a and b (PostgreSQL widens)."""
    return a if INT_RANK[a] >= INT_RANK[b] else b


class Col:
    """A column of a table or derived table; `values` are its inserted non-NULL values, used to
    pick literals that match rows."""

    def __init__(self, name, type_, scale="auto", values=None):
        self.name = name
        self.type = type_
        self.scale = (2 if type_ == "numeric" else None) if scale == "auto" else scale
        self.values = [] if values is None else values

    @property
    def cat(self):
        return CATEGORY[self.type]


class Table:
    def __init__(self, name, cols, keys):
        self.name = name
        self.cols = cols
        self.keys = keys
        self.ref_target = None

    def has_float(self):
        return any(c.type == "float8" for c in self.cols)


class Rel:
    """A relation in scope under an alias; `base` is its Table when it is one."""

    def __init__(self, alias, cols, base=None):
        self.alias = alias
        self.cols = cols
        self.base = base


class E:
    """A generated expression: SQL text, exact type, whether it is a constant, the numeric
    display scale (None when value-dependent) and the column when it is a bare column."""

    def __init__(self, sql, type_, const=False, scale=None, col=None):
        self.sql = sql
        self.type = type_
        self.const = const
        self.scale = scale
        self.col = col

    @property
    def cat(self):
        return CATEGORY[self.type]

    def num_scale(self):
        return 0 if self.cat == "int" else self.scale


class Ctx:
    """Where an expression is generated.

    rels: relations in scope. allowed: SQLSTATEs risky constructs may raise. keys: None for
    per-row expressions; in aggregate mode the GROUP BY expressions (leaves are then keys,
    aggregates and literals). fd: relations whose columns are usable in aggregate mode because
    their primary key is grouped. sub_ok: subqueries allowed. core: only the core grammar (for
    changes, so that both servers' data stay in step)."""

    def __init__(self, rels, allowed=frozenset(), keys=None, fd=(), sub_ok=True, core=False):
        self.rels = rels
        self.allowed = frozenset(allowed)
        self.keys = keys
        self.fd = fd
        self.sub_ok = sub_ok and not core
        self.core = core

    def but(self, **changes):
        other = copy.copy(self)
        other.__dict__.update(changes)
        return other

    def safe(self):
        return self.but(allowed=frozenset())

    def row(self):
        return self.but(keys=None, fd=(), sub_ok=False)

    def can(self, risks):
        return set(risks) <= self.allowed

    def columns(self, cat):
        rels = self.rels if self.keys is None else self.fd
        return [(rel, col) for rel in rels for col in rel.cols if col.cat == cat]


def colref(rel, col):
    return E(f"{rel.alias}.{col.name}", col.type, False, col.scale, col)


class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)
        # Every fourth seed also stores infinite dates, NaN, infinities and 1e300: each such row
        # goes in its own INSERT, but an implementation that refuses them answers every later
        # query over that table differently, so the other seeds keep to plainer values.
        self.exotic = seed % 4 == 0
        self.tables = []
        self.next_key = 1000
        self.copy_round = 0
        self.counter = 0
        self.infinite_dates = False
        self.exotic_value = False

    # -----------------------------------------------------------------------------------------
    # Small helpers

    def chance(self, p):
        return self.r.random() < p

    def weighted(self, options):
        """One value of [(weight, value), ...]."""
        options = [(w, v) for w, v in options if w > 0]
        return self.r.choices([v for _, v in options], [w for w, _ in options])[0]

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def error_class(self):
        """The one SQLSTATE a statement's expressions may raise, or none."""
        return self.weighted([(50, frozenset()), (20, {OVERFLOW}), (20, {DIV_ZERO}),
                              (6, {DATE_RANGE}), (4, {SUBSTRING})])

    # -----------------------------------------------------------------------------------------
    # Schema and rows

    def setup(self):
        r = self.r
        count = r.choice([2, 3, 3])
        for i in range(count):
            types = ["text", "numeric", r.choice(["int2", "int8"]), r.choice(["bool", "date"])]
            types += r.sample(sorted(SQL_TYPE), r.randint(1, 2))
            r.shuffle(types)
            cols = [Col("id", "int4"), Col("ref", "int4")]
            used = {}
            for type_ in types:
                used[type_] = used.get(type_, 0) + 1
                cols.append(Col(f"{PREFIX[type_]}{used[type_]}", type_))
            keys = r.sample(range(-3, 90), r.randint(20, 60))
            self.tables.append(Table(f"t{i}", cols, keys))
        for i, table in enumerate(self.tables):
            table.ref_target = self.tables[(i + 1) % count]
            table.cols[0].values = table.keys
        out = []
        for table in self.tables:
            defs = ", ".join(f"{c.name} {SQL_TYPE[c.type]}" + (" PRIMARY KEY" if c.name == "id" else "")
                             for c in table.cols)
            out.append(f"CREATE TABLE {table.name} ({defs})")
        for table in self.tables:
            # Rows with values an implementation may not accept (infinities, NaN) go in
            # one-row INSERTs of their own, so that refusing one loses only that row.
            rows = [self.row(table, key) for key in table.keys]
            plain = [row for row in rows if not row["exotic"]]
            while plain:
                size = r.randint(8, 30)
                out.append(self.insert_rows(table, plain[:size]))
                plain = plain[size:]
            out += [self.insert_rows(table, [row]) for row in rows if row["exotic"]]
        return out

    def row(self, table, key):
        """Values (SQL text) of a new row by column name; "exotic" when value() chose an exotic
        one (an infinity, NaN or 1e300)."""
        self.exotic_value = False
        values = {c.name: str(key) if c.name == "id" else self.value(table, c) for c in table.cols}
        values["exotic"] = self.exotic_value
        return values

    def insert_rows(self, table, rows):
        cols = list(table.cols)
        names = ""
        if self.chance(0.7):
            if self.chance(0.4):
                self.r.shuffle(cols)
            names = " (" + ", ".join(c.name for c in cols) + ")"
        values = ", ".join("(" + ", ".join(row[c.name] for c in cols) + ")" for row in rows)
        return f"INSERT INTO {table.name}{names} VALUES {values}"

    def int_value(self, type_):
        r = self.r
        lo, hi = INT_BOUNDS[type_]
        x = r.random()
        if x < 0.08:
            return r.choice([lo, hi, 0, -1, 1])
        if type_ == "int8" and x < 0.3:
            return r.randint(-10**12, 10**12)
        return r.randint(-10, 40)

    def value(self, table, col):
        """A value to insert (SQL text); its stored value goes into col.values."""
        r = self.r
        if col.name == "ref":
            x = r.random()
            if x < 0.15:
                return "NULL"
            v = r.choice(table.ref_target.keys) if x < 0.85 else r.randint(-5, 120)
            col.values.append(v)
            return str(v)
        if r.random() < 0.1:
            return "NULL"
        t = col.type
        if t in INT_BOUNDS:
            v = self.int_value(t)
            col.values.append(v)
            return str(v)
        if t == "numeric":
            x = r.random()
            if x < 0.1:
                text = r.choice(NUMERIC_EDGES)
            elif x < 0.3:
                text = str(r.randint(-20, 100))
            elif x < 0.4:
                text = str(Decimal(r.randint(-20000, 20000)).scaleb(-3))  # rounds on insert
            else:
                text = str(Decimal(r.randint(-10000, 10000)).scaleb(-2))
            col.values.append(Decimal(text).quantize(CENT, ROUND_HALF_UP))
            return text
        if t == "text":
            v = r.choice(TEXTS)
            col.values.append(v)
            return quote(v)
        if t == "bool":
            v = r.random() < 0.5
            col.values.append(v)
            return "true" if v else "false"
        if t == "date":
            x = r.random()
            if x < 0.04 and self.exotic:
                v = r.choice(["infinity", "-infinity"])
                self.infinite_dates = self.exotic_value = True
            elif x < 0.35:
                v = r.choice(DATES)
            else:
                v = (FIRST_DATE + datetime.timedelta(days=r.randint(0, 15000))).isoformat()
            col.values.append(v)
            return quote(v)
        if self.exotic and r.random() < 0.15:
            v = r.choice(EXOTIC_FLOATS)
            self.exotic_value = True
        else:
            v = r.choice(FLOATS) if r.random() < 0.5 else str(r.randint(-40, 40) / 4)
        col.values.append(v)
        return v

    # -----------------------------------------------------------------------------------------
    # Literals and leaves

    def typed_literal(self, type_, v):
        if type_ in INT_BOUNDS:
            t = "int4" if INT_BOUNDS["int4"][0] <= v <= INT_BOUNDS["int4"][1] else "int8"
            return E(f"({v})" if v < 0 else str(v), t, True)
        if type_ == "numeric":
            s = str(v)
            scale = len(s.split(".")[1]) if "." in s else 0
            return E(f"({s})" if s.startswith("-") else s, "numeric", True, scale)
        if type_ == "text":
            return E(quote(v), "text", True)
        if type_ == "bool":
            return E("true" if v else "false", "bool", True)
        if type_ == "date":
            return E(f"DATE '{v}'", "date", True)
        return E(f"({v})" if v.startswith("-") else v, "float8", True)

    def literal(self, cat, hint=None, null=0.05):
        """A constant of the category; with a column hint, usually one of its values."""
        r = self.r
        if hint is not None and hint.cat == cat and hint.values and r.random() < 0.8:
            return self.typed_literal(hint.type, r.choice(hint.values))
        if r.random() < null:
            name, type_ = NULL_OF[cat]
            return E(f"CAST(NULL AS {name})", type_, True, 2 if cat == "num" else None)
        if cat == "int":
            if r.random() < 0.06:
                return self.typed_literal("int4", r.choice([b for pair in INT_BOUNDS.values() for b in pair]))
            return self.typed_literal("int4", r.randint(-5, 30))
        if cat == "num":
            digits = r.choice([1, 2, 2, 2, 3])
            return self.typed_literal("numeric", Decimal(r.randint(-5000, 5000)).scaleb(-digits))
        if cat == "text":
            return self.typed_literal("text", r.choice(TEXTS))
        if cat == "bool":
            return self.typed_literal("bool", r.random() < 0.5)
        if r.random() < 0.5:
            return self.typed_literal("date", r.choice(DATES))
        return self.typed_literal("date", (FIRST_DATE + datetime.timedelta(days=r.randint(0, 15000))).isoformat())

    def float_literal(self):
        return self.typed_literal("float8", self.r.choice(FLOATS + (EXOTIC_FLOATS if self.exotic else [])))

    def leaf(self, cat, ctx):
        r = self.r
        if ctx.keys is not None:
            keys = [k for k in ctx.keys if k.cat == cat] + [colref(rel, c) for rel, c in ctx.columns(cat)]
            x = r.random()
            if keys and x < 0.4:
                return r.choice(keys)
            if x < 0.85:
                return self.aggregate(cat, ctx)
            return self.literal(cat)
        cols = ctx.columns(cat)
        if cols and r.random() < 0.8:
            return colref(*r.choice(cols))
        return self.literal(cat)

    def pick_cat(self, ctx, cats=CATS):
        if ctx.keys is not None:
            weights = {"int": 3, "num": 2, "text": 1.5, "date": 1, "bool": 0.7}
            return self.weighted([(weights[c], c) for c in cats])
        return self.weighted([((3 if ctx.columns(c) else 0.4) * (0.6 if c == "bool" else 1), c) for c in cats])

    # -----------------------------------------------------------------------------------------
    # Expressions

    def expr(self, cat, ctx, depth):
        if cat == "bool":
            return self.bool_expr(ctx, depth)
        if depth <= 0 or self.chance(0.3):
            return self.leaf(cat, ctx)
        builders = {
            "int": [(4, self.int_arith), (2, self.int_divmod), (1, self.int_negate), (1, self.int_func),
                    (2, self.conditional), (1, self.int_cast), (0.4, self.date_diff),
                    (0.5, self.scalar_subquery)],
            "num": [(4, self.num_arith), (2, self.num_divmod), (1, self.num_negate), (1.5, self.num_round),
                    (1, self.num_cast), (0.6, self.num_extract), (2, self.conditional),
                    (0.5, self.scalar_subquery)],
            "text": [(3, self.text_func), (2, self.text_concat), (1.2, self.text_cast),
                     (2, self.conditional), (0.4, self.scalar_subquery)],
            "date": [(3, self.date_shift), (2, self.conditional), (0.4, self.scalar_subquery)],
        }[cat]
        if ctx.core:
            builders = [(w, b) for w, b in builders if b.__name__ in CORE_BUILDERS]
        return self.build(cat, ctx, depth, builders)

    def build(self, cat, ctx, depth, builders):
        """Tries a few builders (each may decline with None), else a leaf."""
        for _ in range(4):
            e = self.weighted(builders)(cat, ctx, depth)
            if e is not None:
                return e
        return self.leaf(cat, ctx)

    def branch(self, cat, ctx, depth):
        """An operand for the category; numeric operands are sometimes integers."""
        if cat == "num" and self.chance(0.25):
            return self.expr("int", ctx, depth)
        return self.expr(cat, ctx, depth)

    def unify(self, args):
        """Arguments of coalesce/CASE/greatest made to share a type (and numeric display scale)."""
        if all(a.cat == "int" for a in args):
            return args, max((a.type for a in args), key=INT_RANK.get), None
        if any(a.type == "numeric" for a in args):
            scales = {a.num_scale() for a in args}
            if len(scales) == 1 and None not in scales:
                return args, "numeric", scales.pop()
            return [E(f"round({a.sql}, 2)", "numeric", a.const, 2) for a in args], "numeric", 2
        return args, args[0].type, None

    def fixed_scale(self, e, scale=None):
        """e rounded to 2 places when its numeric display scale is not fixed (or not `scale`)."""
        if e.type == "numeric" and (e.scale is None or (scale is not None and e.scale != scale)):
            return E(f"round({e.sql}, 2)", "numeric", e.const, 2)
        return e

    # --- integers

    def int_arith(self, cat, ctx, depth):
        if not ctx.can({OVERFLOW}):
            return None
        a, b = self.expr("int", ctx, depth - 1), self.expr("int", ctx, depth - 1)
        if a.const and b.const:
            return None
        op = self.r.choice("+-*")
        return E(f"({a.sql} {op} {b.sql})", wider(a.type, b.type))

    def int_divmod(self, cat, ctx, depth):
        r = self.r
        op = r.choice(["/", "/", "%", "mod"])
        a = self.expr("int", ctx, depth - 1)
        options = [(1, (self.typed_literal("int4", r.choice([2, 3, 4, 5, 7, 10, -3, 100])), set()))]
        b = self.expr("int", ctx, depth - 1)
        if not b.const:
            options.append((1, (E(f"nullif({b.sql}, 0)", b.type), {OVERFLOW} if op == "/" else set())))
            options.append((2, (b, {DIV_ZERO, OVERFLOW} if op == "/" else {DIV_ZERO})))
        options = [(w, o) for w, o in options if ctx.can(o[1])]
        den, _ = self.weighted(options)
        if a.const and den.const:
            return None
        sql = f"mod({a.sql}, {den.sql})" if op == "mod" else f"({a.sql} {op} {den.sql})"
        return E(sql, wider(a.type, den.type))

    def int_negate(self, cat, ctx, depth):
        if not ctx.can({OVERFLOW}):
            return None
        a = self.expr("int", ctx, depth - 1)
        if a.const:
            return None
        return E(f"(-{a.sql})" if self.chance(0.5) else f"abs({a.sql})", a.type)

    def int_func(self, cat, ctx, depth):
        t = self.expr("text", ctx, depth - 1)
        fn = self.r.choice(["length", "length", "char_length", "octet_length", "position"])
        if fn == "position":
            return E(f"position({quote(self.r.choice(['a', 'b', 'l', ' ', 'A']))} IN {t.sql})", "int4", t.const)
        return E(f"{fn}({t.sql})", "int4", t.const)

    def int_cast(self, cat, ctx, depth):
        r = self.r
        target = r.choice(["int2", "int4", "int8"])
        if r.random() < 0.4:
            x = self.expr("num", ctx, depth - 1)
            risky = True
        else:
            x = self.expr("int", ctx, depth - 1)
            risky = INT_RANK[target] < INT_RANK[x.type]
        if x.const or (risky and not ctx.can({OVERFLOW})):
            return None
        if r.random() < 0.5:
            return E(f"CAST({x.sql} AS {SQL_TYPE[target]})", target)
        return E(f"{x.sql}::{SQL_TYPE[target]}", target)

    def date_diff(self, cat, ctx, depth):
        if self.infinite_dates and not ctx.can({DATE_RANGE}):
            return None
        a, b = self.expr("date", ctx, depth - 1), self.expr("date", ctx, depth - 1)
        if a.const and b.const:
            return None
        return E(f"({a.sql} - {b.sql})", "int4")

    # --- numerics

    def num_arith(self, cat, ctx, depth):
        a, b = self.expr("num", ctx, depth - 1), self.branch("num", ctx, depth - 1)
        if self.chance(0.5):
            a, b = b, a
        if a.const and b.const:
            return None
        op = self.r.choice("+-*")
        sa, sb = a.num_scale(), b.num_scale()
        scale = None if None in (sa, sb) else (sa + sb if op == "*" else max(sa, sb))
        return E(f"({a.sql} {op} {b.sql})", "numeric", False, scale)

    def num_divmod(self, cat, ctx, depth):
        r = self.r
        op = r.choice(["/", "/", "%"])
        a = self.branch("num", ctx, depth - 1)
        divisor = r.choice(["3", "7", "0.5", "2.5", "-4", "1.10", "100", "0.03"])
        lit = self.typed_literal("numeric", Decimal(divisor)) if "." in divisor else self.typed_literal("int4", int(divisor))
        options = [(1, lit)]
        b = self.branch("num", ctx, depth - 1)
        if not b.const:
            options.append((1, E(f"nullif({b.sql}, 0)", b.type, False, b.scale)))
            if ctx.can({DIV_ZERO}):
                options.append((2, b))
        den = self.weighted(options)
        if a.cat == "int" and den.cat == "int":
            a = self.expr("num", ctx, depth - 1)
        if a.const and den.const:
            return None
        if op == "/":
            scale = None
        else:
            sa, sb = a.num_scale(), den.num_scale()
            scale = None if None in (sa, sb) else max(sa, sb)
        return E(f"({a.sql} {op} {den.sql})", "numeric", False, scale)

    def num_negate(self, cat, ctx, depth):
        a = self.expr("num", ctx, depth - 1)
        if a.const:
            return None
        return E(f"(-{a.sql})" if self.chance(0.5) else f"abs({a.sql})", "numeric", False, a.scale)

    def num_round(self, cat, ctx, depth):
        r = self.r
        x = self.branch("num", ctx, depth - 1)
        fn = r.choice(["round", "trunc", "ceil", "floor", "round", "trunc"])
        if x.cat == "int" or r.random() < 0.5 and fn in ("round", "trunc"):
            # With a scale argument: the only version is numeric (one-argument round on an
            # integer would be the double precision one).
            fn = fn if fn in ("round", "trunc") else "round"
            k = r.choice([-1, 0, 1, 2, 2, 3])
            return E(f"{fn}({x.sql}, {'(-1)' if k < 0 else k})", "numeric", x.const, max(k, 0))
        return E(f"{fn}({x.sql})", "numeric", x.const, 0)

    def num_cast(self, cat, ctx, depth):
        r = self.r
        if r.random() < 0.4 or not ctx.can({OVERFLOW}):
            x = self.expr("int", ctx, depth - 1)
            if r.random() < 0.5 or x.const:
                return E(f"CAST({x.sql} AS numeric)", "numeric", x.const, 0)
            return E(f"{x.sql}::numeric", "numeric", False, 0)
        x = self.branch("num", ctx, depth - 1)
        if x.const:
            return None
        precision, scale = r.choice([(10, 2), (12, 3), (6, 1), (20, 4), (5, 0)])
        return E(f"CAST({x.sql} AS numeric({precision},{scale}))", "numeric", False, scale)

    def num_extract(self, cat, ctx, depth):
        d = self.expr("date", ctx, depth - 1)
        return E(f"EXTRACT({self.r.choice(EXTRACT_FIELDS)} FROM {d.sql})", "numeric", d.const, 0)

    # --- text

    def text_func(self, cat, ctx, depth):
        r = self.r
        x = self.expr("text", ctx, depth - 1)
        fn = r.choice(["upper", "lower", "btrim", "ltrim", "rtrim", "reverse", "initcap", "substr",
                       "substr", "substring", "left", "right", "replace", "lpad", "rpad", "repeat", "concat"])
        if fn in ("upper", "lower", "btrim", "ltrim", "rtrim", "reverse", "initcap"):
            sql = f"{fn}({x.sql})"
        elif fn == "substr":
            start = r.randint(-1, 5)
            start = f"({start})" if start < 0 else str(start)
            if r.random() < 0.4:
                sql = f"substr({x.sql}, {start})"
            else:
                length = r.randint(0, 4)
                if ctx.can({SUBSTRING}) and not x.const and r.random() < 0.5:
                    length = "(-1)"
                sql = f"substr({x.sql}, {start}, {length})"
        elif fn == "substring":
            sql = f"substring({x.sql} FROM {r.randint(0, 4)} FOR {r.randint(0, 4)})"
        elif fn in ("left", "right"):
            n = r.randint(-2, 4)
            sql = f"{fn}({x.sql}, {f'({n})' if n < 0 else n})"
        elif fn == "replace":
            sql = f"replace({x.sql}, {quote(r.choice(['a', 'A', ' ', 'l', 'ab', '']))}, {quote(r.choice(['X', '', '__']))})"
        elif fn in ("lpad", "rpad"):
            sql = f"{fn}({x.sql}, {r.randint(0, 6)}, {quote(r.choice(['*', 'ab', ' ']))})"
        elif fn == "repeat":
            sql = f"repeat({x.sql}, {r.randint(0, 3)})"
        else:
            args = [x] + [self.expr(self.pick_cat(ctx), ctx, depth - 1) for _ in range(r.randint(1, 2))]
            r.shuffle(args)
            return E(f"concat({', '.join(a.sql for a in args)})", "text", all(a.const for a in args))
        return E(sql, "text", x.const)

    def text_concat(self, cat, ctx, depth):
        a = self.expr("text", ctx, depth - 1)
        if self.chance(0.2):
            b = self.text_cast(cat, ctx, depth - 1) or self.leaf("text", ctx)
        else:
            b = self.expr("text", ctx, depth - 1)
        if self.chance(0.5):
            a, b = b, a
        return E(f"({a.sql} || {b.sql})", "text", a.const and b.const)

    def text_cast(self, cat, ctx, depth):
        x = self.expr(self.pick_cat(ctx, ["int", "num", "date", "bool"]), ctx, max(depth - 1, 0))
        if x.const or self.chance(0.5):
            return E(f"CAST({x.sql} AS text)", "text", x.const)
        return E(f"{x.sql}::text", "text")

    # --- dates

    def date_shift(self, cat, ctx, depth):
        x = self.expr("date", ctx, depth - 1)
        if self.chance(0.7) or not ctx.can({DATE_RANGE}):
            n = self.typed_literal("int4", self.r.randint(-400, 400))
        else:
            n = self.expr("int", ctx, depth - 1)
            if n.type == "int8":
                return None
        if x.const and n.const:
            return None
        return E(f"({x.sql} {self.r.choice('+-')} {n.sql})", "date")

    # --- any category

    def conditional(self, cat, ctx, depth):
        """coalesce, nullif, greatest/least, searched or simple CASE."""
        r = self.r
        kinds = ["coalesce", "case", "case", "simple_case", "nullif"]
        if cat != "bool":
            kinds.append("greatest")
        if ctx.core:
            kinds = ["coalesce", "case", "nullif"]
        kind = r.choice(kinds)

        def branches(count):
            first = self.expr(cat, ctx, depth - 1)
            return [first] + [self.branch(cat, ctx, depth - 1) for _ in range(count - 1)]

        if kind in ("coalesce", "greatest"):
            fn = "coalesce" if kind == "coalesce" else r.choice(["greatest", "least"])
            args, type_, scale = self.unify(branches(r.randint(2, 3)))
            return E(f"{fn}({', '.join(a.sql for a in args)})", type_, all(a.const for a in args), scale)
        if kind == "nullif":
            a = self.expr(cat, ctx, depth - 1)
            b = self.literal(cat, a.col) if self.chance(0.7) else self.expr(cat, ctx, depth - 1)
            return E(f"nullif({a.sql}, {b.sql})", a.type, a.const and b.const, a.scale)
        if kind == "case":
            conds = [self.bool_expr(ctx, depth - 1) for _ in range(r.randint(1, 2))]
            values, type_, scale = self.unify(branches(len(conds) + (1 if self.chance(0.7) else 0)))
            parts = [f"WHEN {c.sql} THEN {v.sql}" for c, v in zip(conds, values)]
            if len(values) > len(conds):
                parts.append(f"ELSE {values[-1].sql}")
            return E(f"CASE {' '.join(parts)} END", type_, False, scale)
        # simple CASE: CASE x WHEN literal THEN ... END
        x = self.expr(self.pick_cat(ctx, ["int", "text", "date"]), ctx, depth - 1)
        whens = [self.literal(x.cat, x.col) for _ in range(r.randint(1, 3))]
        values, type_, scale = self.unify(branches(len(whens) + (1 if self.chance(0.6) else 0)))
        parts = [f"WHEN {w.sql} THEN {v.sql}" for w, v in zip(whens, values)]
        if len(values) > len(whens):
            parts.append(f"ELSE {values[-1].sql}")
        return E(f"CASE {x.sql} {' '.join(parts)} END", type_, False, scale)

    def aggregate(self, cat, ctx):
        """An aggregate call of the category over ctx's rows."""
        r = self.r
        row = ctx.row()
        depth = r.choice([0, 0, 1, 2])
        filt = f" FILTER (WHERE {self.bool_expr(row, 1).sql})" if self.chance(0.08) else ""
        if cat == "int":
            kind = r.choice(["count(*)", "count", "count", "distinct", "sum", "min", "max"])
            if kind == "count(*)":
                return E("count(*)" + filt, "int8")
            if kind in ("count", "distinct"):
                x = self.expr(self.pick_cat(row), row, depth)
                return E(f"count({'DISTINCT ' if kind == 'distinct' else ''}{x.sql}){filt}", "int8")
            x = self.expr("int", row, depth)
            if kind == "sum":
                # sum(bigint) is numeric; count instead to stay an integer.
                return E(f"{'count' if x.type == 'int8' else 'sum'}({x.sql}){filt}", "int8")
            return E(f"{kind}({x.sql}){filt}", x.type)
        if cat == "num":
            kind = r.choice(["sum", "avg", "avg", "min", "max"])
            x = self.branch("num", row, depth)
            if kind == "sum" and x.type in ("int2", "int4"):
                kind = "avg"
            if kind in ("min", "max") and x.cat == "int":
                x = self.expr("num", row, depth)
            distinct = "DISTINCT " if kind in ("sum", "avg") and self.chance(0.1) else ""
            scale = None if kind == "avg" else x.num_scale()
            return E(f"{kind}({distinct}{x.sql}){filt}", "numeric", False, scale)
        if cat in ("text", "date"):
            x = self.expr(cat, row, depth)
            return E(f"{r.choice(['min', 'max'])}({x.sql}){filt}", x.type)
        x = self.bool_expr(row, depth)
        return E(f"{r.choice(['bool_and', 'bool_or', 'every'])}({x.sql}){filt}", "bool")

    # -----------------------------------------------------------------------------------------
    # Subqueries (always free of risky constructs, never ordered)

    def subquery_source(self, cat=None):
        tables = [t for t in self.tables if cat is None or any(c.cat == cat for c in t.cols)]
        if not tables:
            return None, None
        table = self.r.choice(tables)
        return table, Rel(self.fresh("s"), table.cols, table)

    def correlation(self, inner, outer_rels):
        """inner.col = outer.col for a pair of the same category, preferring ref/id pairs."""
        pairs = [(w, f"{inner.alias}.{ic.name} = {rel.alias}.{oc.name}")
                 for w, rel, oc, ic in self.matching_columns(outer_rels, inner, 0.4)]
        return self.weighted(pairs) if pairs else None

    @staticmethod
    def matching_columns(rels, other, loose):
        """(weight, rel, column of rel, column of other) for columns of one comparable category:
        ref/id pairs weigh 6, other integers 1, the rest `loose`."""
        found = []
        for rel in rels:
            for c1 in rel.cols:
                for c2 in other.cols:
                    if c1.cat == c2.cat and c1.cat in ("int", "text", "date", "num"):
                        w = 6 if {c1.name, c2.name} == {"id", "ref"} else (1 if c1.cat == "int" else loose)
                        found.append((w, rel, c1, c2))
        return found

    def subquery_where(self, inner, ctx):
        parts = []
        if ctx.keys is None and self.chance(0.7):
            corr = self.correlation(inner, ctx.rels)
            if corr:
                parts.append(corr)
        if self.chance(0.5):
            parts.append(self.bool_expr(Ctx([inner], sub_ok=False), 1).sql)
        return " WHERE " + " AND ".join(parts) if parts else ""

    def scalar_subquery(self, cat, ctx, depth):
        r = self.r
        if not ctx.sub_ok or ctx.keys is not None or cat == "bool":
            return None
        if r.random() < 0.4:
            # A lookup by primary key: at most one row.
            choices = [(t, c) for t in self.tables for c in t.cols if c.cat == cat]
            if not choices:
                return None
            table, col = r.choice(choices)
            alias = self.fresh("s")
            key = self.leaf("int", ctx.but(sub_ok=False))
            if key.const:
                key = self.typed_literal("int4", r.choice(table.keys))
            return E(f"(SELECT {alias}.{col.name} FROM {table.name} AS {alias} WHERE {alias}.id = {key.sql})",
                     col.type, False, col.scale)
        table, inner = self.subquery_source()
        agg = self.aggregate(cat, Ctx([inner], keys=[], sub_ok=False))
        where = self.subquery_where(inner, ctx)
        return E(f"(SELECT {agg.sql} FROM {table.name} AS {inner.alias}{where})", agg.type, False, agg.scale)

    # -----------------------------------------------------------------------------------------
    # Predicates (never risky: ctx.safe())

    def bool_expr(self, ctx, depth):
        ctx = ctx.safe()
        builders = [(6, self.b_compare), (1, self.b_is_null), (1, self.b_between), (1, self.b_in_list),
                    (1, self.b_like), (0.5, self.b_distinct), (0.8, self.b_leaf), (0.7, self.b_float)]
        if depth > 0:
            builders += [(2.5, self.b_and_or), (0.7, self.b_not), (0.3, self.b_truth), (0.3, self.conditional)]
            if ctx.sub_ok and ctx.keys is None:
                builders += [(0.6, self.b_exists), (0.6, self.b_in_subquery), (0.2, self.b_quantified)]
        if ctx.core:
            builders = [(w, b) for w, b in builders if b.__name__ in CORE_BUILDERS]
        return self.build("bool", ctx, depth, builders)

    def operand(self, cat, ctx, depth):
        """The column side of a predicate: often a bare column, rarely a constant."""
        e = self.leaf(cat, ctx) if self.chance(0.5) else self.expr(cat, ctx, depth - 1)
        cols = ctx.columns(cat)
        if e.const and cols and self.chance(0.9):
            e = colref(*self.r.choice(cols))
        return e

    def b_compare(self, cat, ctx, depth):
        c = self.pick_cat(ctx)
        a = self.operand(c, ctx, depth)
        b = self.other_side(c, a, ctx, depth)
        ops = ["=", "<>"] if c == "bool" else ["=", "<>", "<>", "<", "<=", ">", ">=", "<", ">", "!="]
        if self.chance(0.5):
            a, b = b, a
        return E(f"({a.sql} {self.r.choice(ops)} {b.sql})", "bool", a.const and b.const)

    def other_side(self, cat, a, ctx, depth):
        """What a predicate compares `a` with: mostly a value of a's column, not `a` itself."""
        b = None
        if self.chance(0.35):
            b = self.branch(cat, ctx, depth - 1)
        if b is None or b.sql == a.sql:
            b = self.literal(cat, a.col, null=0.02)
        return b

    def sorted_literals(self, cat, hint, count):
        """count literals for BETWEEN/IN, usually values of the hinted column, ascending."""
        if hint is None or not hint.values or hint.cat != cat or self.chance(0.2):
            return [self.literal(cat, hint, null=0.02) for _ in range(count)]
        values = sorted((self.r.choice(hint.values) for _ in range(count)), key=sort_key)
        return [self.typed_literal(hint.type, v) for v in values]

    def b_is_null(self, cat, ctx, depth):
        x = self.operand(self.pick_cat(ctx), ctx, depth)
        return E(f"({x.sql} IS {'NOT ' if self.chance(0.4) else ''}NULL)", "bool", x.const)

    def b_between(self, cat, ctx, depth):
        c = self.pick_cat(ctx, ["int", "num", "text", "date"])
        x = self.operand(c, ctx, depth)
        lo, hi = self.sorted_literals(c, x.col, 2)
        neg = "NOT " if self.chance(0.25) else ""
        sym = "SYMMETRIC " if self.chance(0.15) and not ctx.core else ""
        return E(f"({x.sql} {neg}BETWEEN {sym}{lo.sql} AND {hi.sql})", "bool", x.const)

    def b_in_list(self, cat, ctx, depth):
        c = self.pick_cat(ctx, ["int", "num", "text", "date"])
        x = self.operand(c, ctx, depth)
        values = [e.sql for e in self.sorted_literals(c, x.col, self.r.randint(1, 4))]
        if self.chance(0.15):
            values.append("NULL")
        neg = "NOT " if self.chance(0.3) else ""
        return E(f"({x.sql} {neg}IN ({', '.join(values)}))", "bool", x.const)

    def b_like(self, cat, ctx, depth):
        r = self.r
        x = self.operand("text", ctx, depth)
        if x.col is not None and x.col.values and r.random() < 0.5:
            v = r.choice(x.col.values)
            kind = r.choice(["prefix", "suffix", "underscore"])
            if kind == "prefix":
                pattern = v[:r.randint(0, len(v))] + "%"
            elif kind == "suffix":
                pattern = "%" + v[r.randint(0, len(v)):]
            else:
                i = r.randint(0, max(len(v) - 1, 0))
                pattern = v[:i] + "_" + v[i + 1:]
        else:
            pattern = r.choice(LIKE_PATTERNS)
        op = r.choice(["LIKE", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"])
        return E(f"({x.sql} {op} {quote(pattern)})", "bool", x.const)

    def b_distinct(self, cat, ctx, depth):
        c = self.pick_cat(ctx)
        a = self.operand(c, ctx, depth)
        b = self.other_side(c, a, ctx, depth)
        return E(f"({a.sql} IS {'NOT ' if self.chance(0.5) else ''}DISTINCT FROM {b.sql})", "bool", a.const and b.const)

    def b_leaf(self, cat, ctx, depth):
        if ctx.keys is None and not ctx.columns("bool"):
            return None
        return self.leaf("bool", ctx)

    def b_float(self, cat, ctx, depth):
        cols = ctx.columns("float")
        if not cols:
            return None
        a = colref(*self.r.choice(cols))
        kind = self.r.random()
        if kind < 0.15:
            return E(f"({a.sql} IS {'NOT ' if self.chance(0.5) else ''}NULL)", "bool")
        if kind < 0.6:
            b = self.typed_literal("float8", self.r.choice(a.col.values)) if a.col.values and self.chance(0.5) else self.float_literal()
        elif kind < 0.8:
            b = colref(*self.r.choice(cols))
        else:
            b = self.leaf(self.r.choice(["int", "num"]), ctx)
        return E(f"({a.sql} {self.r.choice(['=', '<>', '<', '<=', '>', '>='])} {b.sql})", "bool")

    def b_and_or(self, cat, ctx, depth):
        a, b = self.bool_expr(ctx, depth - 1), self.bool_expr(ctx, depth - 1)
        return E(f"({a.sql} {self.r.choice(['AND', 'OR'])} {b.sql})", "bool", a.const and b.const)

    def b_not(self, cat, ctx, depth):
        a = self.bool_expr(ctx, depth - 1)
        return E(f"(NOT {a.sql})", "bool", a.const)

    def b_truth(self, cat, ctx, depth):
        a = self.bool_expr(ctx, depth - 1)
        test = self.r.choice(["TRUE", "FALSE", "UNKNOWN"])
        return E(f"({a.sql} IS {'NOT ' if self.chance(0.4) else ''}{test})", "bool", a.const)

    def b_exists(self, cat, ctx, depth):
        table, inner = self.subquery_source()
        select = self.r.choice(["1", "*", f"{inner.alias}.id"])
        where = self.subquery_where(inner, ctx)
        neg = "NOT " if self.chance(0.3) else ""
        return E(f"({neg}EXISTS (SELECT {select} FROM {table.name} AS {inner.alias}{where}))", "bool")

    def subquery_column(self, ctx, depth):
        """(x, SELECT of one column of x's category) for IN/ANY/ALL."""
        c = self.pick_cat(ctx, ["int", "num", "text", "date"])
        table, inner = self.subquery_source(c)
        if table is None:
            return None, None
        col = self.r.choice([col for col in inner.cols if col.cat == c])
        x = self.operand(c, ctx.but(sub_ok=False), depth)
        where = self.subquery_where(inner, ctx)
        return x, f"SELECT {inner.alias}.{col.name} FROM {table.name} AS {inner.alias}{where}"

    def b_in_subquery(self, cat, ctx, depth):
        x, select = self.subquery_column(ctx, depth)
        if x is None:
            return None
        return E(f"({x.sql} {'NOT ' if self.chance(0.3) else ''}IN ({select}))", "bool")

    def b_quantified(self, cat, ctx, depth):
        x, select = self.subquery_column(ctx, depth)
        if x is None:
            return None
        op = self.r.choice(["=", "<>", "<", "<=", ">", ">="])
        return E(f"({x.sql} {op} {self.r.choice(['ANY', 'ALL', 'SOME'])} ({select}))", "bool")

    # -----------------------------------------------------------------------------------------
    # FROM clauses

    def relation(self, alias, ctes):
        """A base table (mostly), a derived table or a CTE, under alias: (Rel, FROM text)."""
        r = self.r
        if r.random() < 0.85:
            table = r.choice(self.tables)
            return Rel(alias, table.cols, table), f"{table.name} AS {alias}"
        body, cols = self.derived_body()
        if r.random() < 0.5:
            name = self.fresh("w")
            ctes.append(f"{name} AS ({body})")
            return Rel(alias, cols), f"{name} AS {alias}"
        return Rel(alias, cols), f"({body}) AS {alias}"

    def derived_body(self):
        """The SELECT of a derived table or CTE (never risky, never ordered) and its columns."""
        r = self.r
        table = r.choice(self.tables)
        x = self.fresh("x")
        rel = Rel(x, table.cols, table)
        ctx = Ctx([rel], sub_ok=False)
        if r.random() < 0.3:
            key = r.choice([c for c in table.cols if c.cat in ("int", "text", "date", "bool")])
            agg = self.aggregate(self.r.choice(["int", "num", "text"]), ctx.but(keys=[]))
            body = (f"SELECT {x}.{key.name} AS k, count(*) AS n, {agg.sql} AS m FROM {table.name} AS {x} "
                    f"GROUP BY {x}.{key.name}")
            return body, [Col("k", key.type, key.scale, key.values), Col("n", "int8"), Col("m", agg.type, agg.scale)]
        items, cols = [f"{x}.id"], [Col("id", "int4", None, table.keys)]
        for i in range(r.randint(2, 4)):
            if r.random() < 0.5:
                col = r.choice([c for c in table.cols[1:] if c.name not in [c.name for c in cols]] or table.cols[1:2])
                if col.name in [c.name for c in cols]:
                    continue
                items.append(f"{x}.{col.name}")
                cols.append(col)
            else:
                e = self.expr(self.pick_cat(ctx), ctx, r.randint(1, 2))
                items.append(f"{e.sql} AS e{i}")
                cols.append(Col(f"e{i}", e.type, e.scale))
        where = f" WHERE {self.bool_expr(ctx, 1).sql}" if r.random() < 0.4 else ""
        return f"SELECT {', '.join(items)} FROM {table.name} AS {x}{where}", cols

    def join_condition(self, rels, new, extra):
        pairs = [(w, f"{rel.alias}.{c1.name} = {new.alias}.{c2.name}")
                 for w, rel, c1, c2 in self.matching_columns(rels, new, 0.5)]
        if not pairs:
            return None
        cond = self.weighted(pairs)
        if extra and self.chance(0.3):
            cond += f" AND {self.bool_expr(Ctx(rels + [new]), 1).sql}"
        return cond

    def from_clause(self, ctes):
        r = self.r
        count = self.weighted([(5, 1), (4, 2), (1, 3)])
        rel, sql = self.relation("a", ctes)
        rels = [rel]
        for alias in "bc"[:count - 1]:
            rel, source = self.relation(alias, ctes)
            kind = self.weighted([(5, "JOIN"), (4, "LEFT JOIN"), (1, "RIGHT JOIN"), (0.6, "FULL JOIN"),
                                  (0.3, "CROSS JOIN")])
            cond = None if kind == "CROSS JOIN" else self.join_condition(rels, rel, kind != "FULL JOIN")
            if cond is None:
                sql += f" CROSS JOIN {source}"
            else:
                sql += f" {r.choice(['INNER JOIN', 'JOIN']) if kind == 'JOIN' else kind} {source} ON {cond}"
            rels.append(rel)
        return sql, rels

    # -----------------------------------------------------------------------------------------
    # Queries

    def order_limit(self, ncols, ordered):
        """ORDER BY every output column (a total order), then maybe LIMIT/OFFSET."""
        r = self.r
        if not ordered:
            return ""
        positions = list(range(1, ncols + 1))
        if r.random() < 0.3:
            r.shuffle(positions)
        parts = []
        for p in positions:
            part = str(p)
            if r.random() < 0.3:
                part += " DESC"
            if r.random() < 0.15:
                part += r.choice([" NULLS FIRST", " NULLS LAST"])
            parts.append(part)
        sql = " ORDER BY " + ", ".join(parts)
        x = r.random()
        if x < 0.15:
            sql += f" LIMIT {r.randint(0, 10)}"
        elif x < 0.25:
            sql += f" LIMIT {r.randint(1, 10)} OFFSET {r.randint(0, 10)}"
        elif x < 0.28:
            sql += f" OFFSET {r.randint(1, 10)}"
        elif x < 0.31:
            sql += f" FETCH FIRST {r.randint(1, 5)} ROWS ONLY"
        return sql

    def select_list(self, items):
        return ", ".join(e.sql + (f" AS c{i}" if self.chance(0.4) else "") for i, e in enumerate(items, 1))

    def select(self):
        r = self.r
        allowed = self.error_class()
        ctes = []
        from_sql, rels = self.from_clause(ctes)
        ctx = Ctx(rels, allowed)
        shape = self.weighted([(5, "plain"), (1, "distinct"), (3, "group"), (1, "aggregate")])
        where = f" WHERE {self.bool_expr(ctx, r.choice([1, 1, 2, 3])).sql}" if r.random() < 0.65 else ""
        depth = r.randint(1, 3)
        group = having = distinct = ""
        if shape in ("plain", "distinct"):
            if shape == "plain" and r.random() < 0.08 and not any(rel.base is None or rel.base.has_float() for rel in rels):
                # A star (only over base tables without double precision columns).
                if r.random() < 0.5:
                    select, ncols = "*", sum(len(rel.cols) for rel in rels)
                else:
                    rel = r.choice(rels)
                    select, ncols = f"{rel.alias}.*", len(rel.cols)
            else:
                items = [self.expr(self.pick_cat(ctx), ctx, depth) for _ in range(r.randint(1, 4))]
                if shape == "distinct":
                    items = [self.fixed_scale(e) for e in items]
                    distinct = "DISTINCT "
                select, ncols = self.select_list(items), len(items)
            ordered = r.random() < 0.75
        else:
            keys = []
            if shape == "group":
                key_ctx = ctx.but(sub_ok=False)
                for _ in range(r.randint(1, 2)):
                    k = self.fixed_scale(self.expr(self.pick_cat(ctx), key_ctx, r.choice([0, 0, 1])))
                    if not k.const and k.sql not in [key.sql for key in keys]:
                        keys.append(k)
                if not keys:
                    keys.append(colref(rels[0], r.choice(rels[0].cols[:2])))
            fd = tuple(rel for rel in rels if rel.base is not None and f"{rel.alias}.id" in [k.sql for k in keys])
            agg_ctx = ctx.but(keys=keys, fd=fd, sub_ok=False)
            items = [self.aggregate(self.pick_cat(agg_ctx), agg_ctx)]
            items += [self.expr(self.pick_cat(agg_ctx), agg_ctx, depth) for _ in range(r.randint(0, 2))]
            items += keys
            r.shuffle(items)
            if keys:
                if r.random() < 0.2:
                    positions = [str(i) for i, e in enumerate(items, 1) if e in keys]
                    group = " GROUP BY " + ", ".join(positions)
                else:
                    group = " GROUP BY " + ", ".join(k.sql for k in keys)
            if r.random() < (0.3 if keys else 0.15):
                having = f" HAVING {self.bool_expr(agg_ctx, r.randint(1, 2)).sql}"
            select, ncols = self.select_list(items), len(items)
            ordered = r.random() < (0.75 if keys else 0.2)
        with_sql = f"WITH {', '.join(ctes)} " if ctes else ""
        order = self.order_limit(ncols, ordered)
        return f"{with_sql}SELECT {distinct}{select} FROM {from_sql}{where}{group}{having}{order}"

    def set_operation(self):
        """SELECT ... UNION/EXCEPT/INTERSECT [ALL] SELECT ... with columns of the same categories
        (numerics at display scale 2 so that equal values print alike)."""
        r = self.r
        cats = [r.choice(CATS) for _ in range(r.randint(1, 3))]
        allowed = self.error_class()
        ctes = []
        operands = []
        for _ in range(self.weighted([(4, 2), (1, 3)])):
            from_sql, rels = self.from_clause(ctes)
            ctx = Ctx(rels, allowed)
            items = [self.fixed_scale(self.expr(c, ctx, r.randint(0, 2)), 2) for c in cats]
            where = f" WHERE {self.bool_expr(ctx, r.randint(1, 2)).sql}" if r.random() < 0.6 else ""
            distinct = "DISTINCT " if r.random() < 0.15 else ""
            operands.append(f"SELECT {distinct}{self.select_list(items)} FROM {from_sql}{where}")
        sql = operands[0]
        for operand in operands[1:]:
            op = self.weighted([(3, "UNION"), (2, "UNION ALL"), (2, "EXCEPT"), (1, "EXCEPT ALL"),
                                (2, "INTERSECT"), (1, "INTERSECT ALL")])
            sql += f" {op} {operand}"
        with_sql = f"WITH {', '.join(ctes)} " if ctes else ""
        return with_sql + sql + self.order_limit(len(cats), r.random() < 0.8)

    # -----------------------------------------------------------------------------------------
    # Changes

    def assignment(self, col, ctx):
        """A value for `col` in SET or INSERT ... SELECT: the column's category; an expression
        that may not fit the column only when overflow (22003) is allowed."""
        if col.cat == "float":
            return self.float_literal().sql
        if self.chance(0.08):
            return "NULL"
        e = self.expr(col.cat, ctx, self.r.randint(0, 1))
        narrowing = (col.cat == "int" and INT_RANK[e.type] > INT_RANK[col.type]) or (col.cat == "num" and not e.const)
        if narrowing and (e.const or not ctx.can({OVERFLOW})):
            # One of the column's own values always fits.
            if col.values:
                e = self.typed_literal(col.type, self.r.choice(col.values))
            else:
                e = self.typed_literal("int4", self.r.randint(-5, 30))
        return e.sql

    def returning(self, table):
        if not self.chance(0.15):
            return ""
        if self.chance(0.4) and not table.has_float():
            return " RETURNING *"
        cols = [c for c in table.cols if c.cat != "float"]
        picked = [table.cols[0]] + self.r.sample(cols[1:], min(len(cols) - 1, self.r.randint(1, 2)))
        return " RETURNING " + ", ".join(c.name for c in picked)

    def update(self):
        r = self.r
        table = r.choice(self.tables)
        rel = Rel(table.name, table.cols, table)
        ctx = Ctx([rel], self.error_class(), core=True)
        targets = r.sample(table.cols[1:], r.randint(1, 2))
        sets = ", ".join(f"{c.name} = {self.assignment(c, ctx)}" for c in targets)
        where = f" WHERE {self.bool_expr(ctx, 1).sql}" if r.random() < 0.85 else ""
        return f"UPDATE {table.name} SET {sets}{where}{self.returning(table)}"

    def delete(self):
        r = self.r
        table = r.choice(self.tables)
        ctx = Ctx([Rel(table.name, table.cols, table)], core=True)
        pred = self.bool_expr(ctx, 1).sql
        if r.random() < 0.7:
            k = r.randint(-3, 90)
            pred = f"{table.name}.id BETWEEN {k} AND {k + r.randint(0, 6)} AND {pred}"
        return f"DELETE FROM {table.name} WHERE {pred}{self.returning(table)}"

    def insert_values(self):
        r = self.r
        table = r.choice(self.tables)
        keys = []
        for _ in range(r.randint(1, 3)):
            if table.keys and r.random() < 0.1:
                keys.append(r.choice(table.keys))  # may violate the primary key (23505)
            else:
                keys.append(self.next_key)
                table.keys.append(self.next_key)
                self.next_key += 1
        return self.insert_rows(table, [self.row(table, key) for key in keys]) + self.returning(table)

    def insert_select(self):
        r = self.r
        table = r.choice(self.tables)
        source, rel = self.subquery_source()
        ctx = Ctx([rel], self.error_class(), core=True)
        self.copy_round += 1
        cols = [table.cols[0]] + r.sample(table.cols[1:], r.randint(1, len(table.cols) - 1))
        values = [f"{rel.alias}.id + {1000000 * self.copy_round}"] + [self.assignment(c, ctx) for c in cols[1:]]
        where = f"{rel.alias}.id < 1000"
        if r.random() < 0.6:
            where += f" AND {self.bool_expr(ctx, 1).sql}"
        return (f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) SELECT {', '.join(values)} "
                f"FROM {source.name} AS {rel.alias} WHERE {where}{self.returning(table)}")

    def statement(self):
        return self.weighted([(5, self.update), (2, self.delete), (1.5, self.insert_values),
                              (1.5, self.insert_select), (8, self.set_operation), (82, self.select)])()


def statements(seed, n):
    """The schema and rows, then n random statements: [(line, sql, flags), ...]."""
    gen = Generator(seed)
    sqls = gen.setup()
    for _ in range(n):
        sqls.append(gen.statement())
    return [(number, sql, set()) for number, sql in enumerate(sqls, 1)]
