"""Python clients against a live Atoll cluster: psycopg 3 and SQLAlchemy 2 (ORM and reflection).

Run by tests/it/python.rs with the cluster's PostgreSQL URL as the only argument; every check
raises on a wrong answer, so a zero exit means all of them held.
"""

import sys
from decimal import Decimal

import psycopg
from psycopg import errors
import sqlalchemy as sa
from sqlalchemy import orm


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def psycopg_basics(url):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE py_psycopg")
    url = url.rsplit("/", 1)[0] + "/py_psycopg"
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2), tags TEXT)"
        )
        conn.commit()
        # Parameters are sent typed, over the extended protocol.
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO items (id, name, price) VALUES (%s, %s, %s)",
                [(i, f"item {i}", Decimal(i) / 4) for i in range(1, 21)],
            )
        conn.commit()
        rows = conn.execute("SELECT id, name, price FROM items WHERE id <= %s ORDER BY id", (3,)).fetchall()
        check(rows == [(1, "item 1", Decimal("0.25")), (2, "item 2", Decimal("0.50")), (3, "item 3", Decimal("0.75"))], rows)
        # psycopg prepares a statement server-side after it ran a few times.
        for i in range(1, 11):
            (name,) = conn.execute("SELECT name FROM items WHERE id = %s", (i,)).fetchone()
            check(name == f"item {i}", name)
        # A failed statement aborts the transaction; the SQLSTATE maps to psycopg's class.
        try:
            conn.execute("INSERT INTO items (id, name) VALUES (1, 'duplicate')")
            raise AssertionError("duplicate key accepted")
        except errors.UniqueViolation:
            pass
        check(conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR, conn.info.transaction_status)
        try:
            conn.execute("SELECT 1")
            raise AssertionError("statement ran in a failed transaction")
        except errors.InFailedSqlTransaction:
            pass
        conn.rollback()
        # Rollback leaves nothing behind.
        conn.execute("INSERT INTO items (id, name) VALUES (100, 'rolled back')")
        conn.rollback()
        check(conn.execute("SELECT count(*) FROM items").fetchone() == (20,), "rollback kept a row")
        # COPY FROM STDIN.
        with conn.cursor() as cur:
            with cur.copy("COPY items (id, name) FROM STDIN") as copy:
                for i in range(200, 210):
                    copy.write_row((i, f"copied {i}"))
        conn.commit()
        check(conn.execute("SELECT count(*) FROM items WHERE id >= 200").fetchone() == (10,), "COPY lost rows")
        conn.commit()
        # A nested transaction is a SAVEPOINT: its failure is undone, the outer block goes on
        # and commits.
        with conn.transaction():
            conn.execute("INSERT INTO items (id, name) VALUES (300, 'outer')")
            try:
                with conn.transaction():
                    conn.execute("INSERT INTO items (id, name) VALUES (302, 'inner')")
                    conn.execute("INSERT INTO items (id, name) VALUES (1, 'duplicate')")
                raise AssertionError("duplicate key accepted")
            except errors.UniqueViolation:
                pass
            check(conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS, conn.info.transaction_status)
            conn.execute("INSERT INTO items (id, name) VALUES (301, 'after')")
        ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE id >= 300 ORDER BY id").fetchall()]
        check(ids == [300, 301], ids)
        try:
            conn.execute("SELECT nope FROM items")
            raise AssertionError("undefined column accepted")
        except errors.UndefinedColumn:
            conn.rollback()


class Base(orm.DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    # Atoll has no foreign keys yet, so the join is spelled out.
    books: orm.Mapped[list["Book"]] = orm.relationship(
        back_populates="author", primaryjoin="Author.id == foreign(Book.author_id)"
    )


class Book(Base):
    __tablename__ = "books"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.Text)
    author_id: orm.Mapped[int] = orm.mapped_column(sa.Integer, index=True)
    pages: orm.Mapped[int | None]
    author: orm.Mapped[Author] = orm.relationship(
        back_populates="books", primaryjoin="Author.id == foreign(Book.author_id)"
    )


def sqlalchemy_orm(url):
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE py_orm"))
    admin.dispose()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/py_orm")
    # create_all asks the catalog whether each table exists first.
    Base.metadata.create_all(engine)
    Base.metadata.create_all(engine)  # a second time finds them and creates nothing
    with orm.Session(engine) as session:
        ada = Author(name="Ada")
        session.add_all([ada, Author(name="Grace")])
        session.flush()
        session.add_all([Book(title="Notes", author_id=ada.id, pages=40), Book(title="Sketch", author_id=ada.id)])
        session.commit()
    with orm.Session(engine) as session:
        ada = session.scalars(sa.select(Author).where(Author.name == "Ada")).one()
        titles = sorted(book.title for book in ada.books)
        check(titles == ["Notes", "Sketch"], titles)
        counts = session.execute(
            sa.select(Author.name, sa.func.count(Book.id))
            .join(Book, Book.author_id == Author.id, isouter=True)
            .group_by(Author.name)
            .order_by(Author.name)
        ).all()
        check([tuple(r) for r in counts] == [("Ada", 2), ("Grace", 0)], counts)
        session.execute(sa.update(Book).where(Book.title == "Sketch").values(pages=12))
        session.commit()
        check(session.scalars(sa.select(Book.pages).where(Book.title == "Sketch")).one() == 12, "update lost")
    # Reflection reads pg_catalog.
    inspector = sa.inspect(engine)
    check(sorted(inspector.get_table_names()) == ["authors", "books"], inspector.get_table_names())
    columns = {c["name"]: c for c in inspector.get_columns("books")}
    check(list(columns) == ["id", "title", "author_id", "pages"], list(columns))
    check(isinstance(columns["title"]["type"], sa.Text), columns["title"])
    check(columns["pages"]["nullable"] and not columns["id"]["nullable"], columns)
    check(inspector.get_pk_constraint("books")["constrained_columns"] == ["id"], inspector.get_pk_constraint("books"))
    indexes = {i["name"]: i for i in inspector.get_indexes("books")}
    check(indexes["ix_books_author_id"]["column_names"] == ["author_id"], indexes)
    authors = sa.Table("authors", sa.MetaData(), autoload_with=engine)
    check(isinstance(authors.c.name.type, sa.String) and authors.c.name.type.length == 80, authors.c.name.type)
    engine.dispose()


def main():
    url = sys.argv[1]
    psycopg_basics(url)
    print("psycopg: ok")
    sqlalchemy_orm(url)
    print("sqlalchemy: ok")


if __name__ == "__main__":
    main()
