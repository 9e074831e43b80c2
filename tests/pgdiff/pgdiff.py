"""The differential test: the same statements on PostgreSQL 15 and on Atoll, compared per statement.

For every statement of every corpus file (tests/pgdiff/corpus/*.sql) and of the seeded random
generator (gen.py), both servers' answers are compared: success or SQLSTATE, the command tag,
column names, column type OIDs and every value. A query (SELECT, VALUES, WITH, SHOW, TABLE) is
run three times, on the simple protocol, on the extended protocol with text results and on the
extended protocol with binary results (values compared byte for byte), so a wrong binary encoding
is a difference too; every other statement runs once, on the extended protocol, as drivers send
it. Rows are compared in order when the statement says ORDER BY, as a multiset otherwise.

Differences already known are listed in two files of `# reason` lines followed by
`file.sql: statement` lines: tests/pgdiff/intended.txt holds the ones Atoll keeps on purpose,
tests/pgdiff/known.txt the ones not fixed yet (the work list of the PostgreSQL-fidelity issue;
`--write-known` rewrites it from a run). The run fails on any other difference and on a listed
statement that no longer differs (the lists stay true). The closing line is
`pgdiff: N same, M different, K intended, J known`.

usage: pgdiff.py --atoll URL [--pg URL] [--corpus FILE...] [--random-seed S] [--random-queries N]
                 [--no-corpus] [--known FILE] [--write-known]
Without --pg, a throwaway PostgreSQL 15 is started from Debian's package (initdb in a temporary
directory, run as the user postgres when run as root) and removed at the end.
"""

import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import psycopg
from psycopg import pq

HERE = os.path.dirname(os.path.abspath(__file__))
PGBIN_CANDIDATES = ["/usr/lib/postgresql/15/bin"]
QUERY_START = re.compile(r"^\s*(\(\s*)*(SELECT|VALUES|WITH|SHOW|TABLE)\b", re.IGNORECASE)
WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|nextval|setval)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Reading the corpus


def split_statements(text):
    """Statements of a corpus file with their first line: `;` at the end of a line ends one,
    `--` starts a comment line, and a line `-- pgdiff: error-only` before a statement compares
    its SQLSTATE or success only (for answers that depend on time or randomness)."""
    statements = []
    current, start, flags, pending_flags = [], None, set(), set()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not current and stripped.startswith("--"):
            marker = stripped[2:].strip()
            if marker.startswith("pgdiff:"):
                pending_flags.update(marker[len("pgdiff:"):].split())
            continue
        if not stripped and not current:
            continue
        if not current:
            start, flags, pending_flags = number, pending_flags, set()
        current.append(line)
        if stripped.endswith(";"):
            sql = "\n".join(current).strip()
            statements.append((start, sql[:-1].rstrip(), flags))
            current = []
    if current:
        raise SystemExit(f"statement at line {start} does not end with ';'")
    return statements


def normalize(sql):
    return " ".join(sql.split())


def read_listed(path):
    """intended.txt, known.txt: blocks of `# reason` lines followed by `file.sql: statement` lines."""
    intended = {}
    reason = []
    if not os.path.exists(path):
        return intended
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                reason.append(line[1:].strip())
            elif line.strip():
                name, _, sql = line.partition(": ")
                if not sql or not reason:
                    raise SystemExit(f"{path}: '{line}' needs 'file: statement' after a '# reason'")
                intended[(name.strip(), normalize(sql))] = " ".join(reason)
            else:
                reason = []
    return intended


def write_known(path, keys):
    """known.txt from a run: its differences, grouped by corpus file."""
    by_file = {}
    for name, sql in dict.fromkeys(keys):
        by_file.setdefault(name, []).append(sql)
    with open(path, "w") as f:
        f.write("# Differences from PostgreSQL 15 not fixed yet (issue 20), written by pgdiff.py --write-known.\n"
                "# A fix makes its statement the same on both servers; the run then asks for its removal here.\n\n")
        for name in sorted(by_file):
            f.write(f"# {name}: not fixed yet\n")
            for sql in by_file[name]:
                f.write(f"{name}: {sql}\n")
            f.write("\n")


# ---------------------------------------------------------------------------------------------
# Running statements


def sqlstate(res):
    code = res.error_field(pq.DiagnosticField.SQLSTATE)
    return code.decode() if code else "?????"


def outcome(pgconn, sql, mode, ordered):
    """One statement's answer as a comparable tuple."""
    query = sql.encode()
    if mode == "simple":
        res = pgconn.exec_(query)
    else:
        res = pgconn.exec_params(query, None, result_format=1 if mode == "binary" else 0)
    status = res.status
    if status == pq.ExecStatus.FATAL_ERROR:
        answer = ("error", sqlstate(res))
        detail = res.error_message.decode(errors="replace").strip()
    elif status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY):
        columns = tuple((res.fname(i).decode(errors="replace"), res.ftype(i)) for i in range(res.nfields))
        rows = []
        for r in range(res.ntuples):
            row = []
            for c in range(res.nfields):
                value = res.get_value(r, c)
                if value is None:
                    row.append(None)
                elif mode == "binary":
                    row.append(value.hex())
                else:
                    row.append(value.decode(errors="replace"))
            rows.append(tuple(row))
        if not ordered:
            rows.sort(key=lambda row: tuple((v is None, v or "") for v in row))
        tag = (res.command_status or b"").decode()
        answer = ("ok", tag, columns, tuple(rows))
        detail = ""
    else:
        answer = ("status", str(status))
        detail = res.error_message.decode(errors="replace").strip()
    res.clear()
    return answer, detail


def is_query(sql):
    return bool(QUERY_START.match(sql)) and not WRITES.search(sql)


def modes_for(sql, flags):
    if "simple-only" in flags:
        return ["simple"]
    return ["simple", "text", "binary"] if is_query(sql) else ["text"]


def describe(answer, detail):
    if answer[0] == "error":
        return f"ERROR {answer[1]}: {detail}"
    if answer[0] == "status" or len(answer) != 4:
        return f"{' '.join(answer)} {detail}".strip()
    _, tag, columns, rows = answer
    shown = list(rows[:6])
    more = f" ... ({len(rows)} rows)" if len(rows) > 6 else ""
    cols = ", ".join(f"{name}:{oid}" for name, oid in columns)
    return f"{tag} [{cols}] {shown}{more}"


def connect(url):
    conn = pq.PGconn.connect(url.encode())
    if conn.status != pq.ConnStatus.OK:
        raise SystemExit(f"cannot connect to {url}: {conn.error_message.decode(errors='replace')}")
    return conn


def with_database(url, name):
    base, _, rest = url.rpartition("/")
    query = ""
    if "?" in rest:
        query = "?" + rest.split("?", 1)[1]
    return f"{base}/{name}{query}"


def fresh_database(url, name):
    admin = connect(url)
    for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        res = admin.exec_(sql.encode())
        if res.status != pq.ExecStatus.COMMAND_OK:
            raise SystemExit(f"{url}: {sql}: {res.error_message.decode(errors='replace')}")
    admin.finish()
    return with_database(url, name)


def drop_database(url, name):
    admin = connect(url)
    admin.exec_(f"DROP DATABASE IF EXISTS {name}".encode())
    admin.finish()


class Tally:
    def __init__(self, intended, known):
        self.same = 0
        self.different = 0
        self.intended_hits = 0
        self.known_hits = 0
        self.intended = intended
        self.known = known
        self.seen = set()
        self.now_different = []  # (file, statement) of every difference, for --write-known

    def listed(self, key):
        return key in self.intended or key in self.known

    def record(self, name, line, sql, mode, pg, atoll):
        key = (name, normalize(sql))
        self.seen.add(key)
        if pg[0] == atoll[0]:
            return True
        if key not in self.intended:
            self.now_different.append(key)
        if self.listed(key):
            return False
        print(f"DIFFERENT {name}:{line} ({mode}): {sql}")
        print(f"  postgres: {describe(*pg)}")
        print(f"  atoll:    {describe(*atoll)}")
        return False


def run_statements(file_name, statements, pg_url, atoll_url, tally):
    """Runs one file's statements on both servers in a fresh database each."""
    database = "pgdiff_" + re.sub(r"[^a-z0-9_]", "_", file_name.lower().rsplit(".", 1)[0])
    pg = connect(fresh_database(pg_url, database))
    atoll = connect(fresh_database(atoll_url, database))
    occurrences = {}
    for line, sql, flags in statements:
        # A statement that appears again in the file is listed as `file.sql#2: ...`.
        occurrences[normalize(sql)] = occurrences.get(normalize(sql), 0) + 1
        name = file_name if occurrences[normalize(sql)] == 1 else f"{file_name}#{occurrences[normalize(sql)]}"
        ordered = bool(re.search(r"\bORDER\s+BY\b", sql, re.IGNORECASE))
        all_same = True
        key = (name, normalize(sql))
        listed = "intended.txt" if key in tally.intended else "known.txt" if key in tally.known else None
        for mode in modes_for(sql, flags):
            pg_answer = outcome(pg, sql, mode, ordered)
            atoll_answer = outcome(atoll, sql, mode, ordered)
            if "error-only" in flags:
                pg_answer = ((pg_answer[0][0], pg_answer[0][1] if pg_answer[0][0] == "error" else ""), pg_answer[1])
                atoll_answer = ((atoll_answer[0][0], atoll_answer[0][1] if atoll_answer[0][0] == "error" else ""), atoll_answer[1])
            if not tally.record(name, line, sql, mode, pg_answer, atoll_answer):
                all_same = False
                break
        if all_same:
            if listed:
                print(f"NOW THE SAME {name}:{line}: {sql} (remove it from {listed})")
                tally.different += 1
            else:
                tally.same += 1
        elif listed == "intended.txt":
            tally.intended_hits += 1
        elif listed:
            tally.known_hits += 1
        else:
            tally.different += 1
    pg.finish()
    atoll.finish()
    drop_database(pg_url, database)
    drop_database(atoll_url, database)


# ---------------------------------------------------------------------------------------------
# A throwaway PostgreSQL


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    def __init__(self):
        pgbin = next((p for p in PGBIN_CANDIDATES if os.path.exists(os.path.join(p, "postgres"))), None)
        if pgbin is None:
            raise SystemExit("PostgreSQL 15 is not installed (./scripts/test.sh installs Debian's postgresql)")
        self.dir = tempfile.mkdtemp(prefix="atoll-pgdiff-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.prefix = []
        if os.geteuid() == 0:
            # The server refuses to run as root: run it as Debian's user postgres.
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir, 0o700)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.pgbin = pgbin
        self.run([os.path.join(pgbin, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
        self.log = os.path.join(self.dir, "log")
        self.run([os.path.join(pgbin, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c TimeZone=UTC "
                  "-c max_connections=20 -c shared_buffers=32MB", "start"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, command):
        result = subprocess.run(self.prefix + command, capture_output=True, text=True, cwd=self.dir)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")

    def stop(self):
        subprocess.run(self.prefix + [os.path.join(self.pgbin, "pg_ctl"), "-D", self.data, "-m",
                                      "immediate", "stop"], capture_output=True, cwd=self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoll", required=True, help="an Atoll node's PostgreSQL URL")
    parser.add_argument("--pg", help="a PostgreSQL 15 URL (default: start a throwaway one)")
    parser.add_argument("--corpus", nargs="*", help="corpus files (default: tests/pgdiff/corpus/*.sql)")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--random-seed", type=int)
    parser.add_argument("--random-queries", type=int, default=200)
    parser.add_argument("--known", default=os.path.join(HERE, "known.txt"),
                        help="the list of differences not fixed yet (default: tests/pgdiff/known.txt)")
    parser.add_argument("--write-known", action="store_true",
                        help="rewrite known.txt with every difference of this run not in intended.txt")
    args = parser.parse_args()

    server = None
    pg_url = args.pg
    if pg_url is None:
        server = ThrowawayPostgres()
        pg_url = server.url
    try:
        intended = read_listed(os.path.join(HERE, "intended.txt"))
        known = {} if args.write_known else read_listed(args.known)
        tally = Tally(intended, known)
        files = [] if args.no_corpus else (args.corpus or sorted(glob.glob(os.path.join(HERE, "corpus", "*.sql"))))
        for path in files:
            with open(path) as f:
                statements = split_statements(f.read())
            run_statements(os.path.basename(path), statements, pg_url, args.atoll, tally)
        if args.random_seed is not None:
            sys.path.insert(0, HERE)
            import gen

            statements = gen.statements(args.random_seed, args.random_queries)
            run_statements(f"random-{args.random_seed}", statements, pg_url, args.atoll, tally)
        if not args.corpus and not args.no_corpus:
            for name, sql in sorted((set(intended) | set(known)) - tally.seen):
                print(f"LISTED BUT NOT RUN {name}: {sql} (no such statement in the corpus)")
                tally.different += 1
    finally:
        if server is not None:
            server.stop()
    if args.write_known:
        write_known(args.known, tally.now_different)
        print(f"wrote {len(set(tally.now_different))} statements to known.txt")
        tally.known_hits, tally.different = len(set(tally.now_different)), 0
    print(f"pgdiff: {tally.same} same, {tally.different} different, {tally.intended_hits} intended, "
          f"{tally.known_hits} known")
    sys.exit(1 if tally.different else 0)


if __name__ == "__main__":
    main()
