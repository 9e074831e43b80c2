//! Python's PostgreSQL clients against a live cluster: psycopg 3 (typed parameters,
//! server-side prepared statements, COPY, SQLSTATE error classes, failed transactions),
//! SQLAlchemy 2 (ORM create/insert/query and reflection through pg_catalog), and numerics at
//! every precision limit. The checks are in tests/python/*.py; ./scripts/test.sh installs both
//! packages in a virtualenv and names its interpreter in ATOLL_TEST_PYTHON.

use crate::cluster::TestCluster;
use std::process::Command;

/// Runs tests/python/`script` against `sql_address` and returns its stdout; panics with its
/// output if it fails.
fn must_run_python(script: &str, sql_address: &str) -> String {
    let python = std::env::var("ATOLL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("ATOLL_TEST_PYTHON is not set: run the tests through ./scripts/test.sh, which installs psycopg and SQLAlchemy")
    });
    let url = format!("postgresql://atoll@{sql_address}/postgres");
    let path = crate::manifest_dir().join("../../tests/python").join(script);
    let output = Command::new(&python).arg(path).arg(&url).output().expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_and_sqlalchemy_work_unmodified() {
    let cluster = TestCluster::must_start(3).await;
    let stdout = must_run_python("clients.py", &cluster.nodes[1].sql);
    assert!(stdout.contains("psycopg: ok") && stdout.contains("sqlalchemy: ok"), "{stdout}");
}

/// Numerics at every precision limit through psycopg, text and binary in both directions
/// (tests/python/numerics.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numerics_round_trip_at_every_precision_limit_in_text_and_binary() {
    let cluster = TestCluster::must_start(1).await;
    let stdout = must_run_python("numerics.py", &cluster.nodes[0].sql);
    assert!(stdout.contains("numerics: ok"), "{stdout}");
}
