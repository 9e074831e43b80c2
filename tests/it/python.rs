//! Python's PostgreSQL clients against a 3-node cluster: psycopg 3 (typed parameters,
//! server-side prepared statements, COPY, SQLSTATE error classes, failed transactions) and
//! SQLAlchemy 2 (ORM create/insert/query and reflection through pg_catalog). The checks are
//! in tests/python/clients.py; ./scripts/test.sh installs both packages in a virtualenv and
//! names its interpreter in ATOLL_TEST_PYTHON.

use crate::cluster::TestCluster;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_and_sqlalchemy_work_unmodified() {
    let python = std::env::var("ATOLL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("ATOLL_TEST_PYTHON is not set: run the tests through ./scripts/test.sh, which installs psycopg and SQLAlchemy")
    });
    let cluster = TestCluster::must_start(3).await;
    let url = format!("postgresql://atoll@{}/postgres", cluster.nodes[1].sql);
    let script = crate::manifest_dir().join("../../tests/python/clients.py");
    let output = Command::new(&python).arg(script).arg(&url).output().expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "clients.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("psycopg: ok") && stdout.contains("sqlalchemy: ok"), "{stdout}");
}

/// Numerics at every precision limit through psycopg, text and binary in both directions
/// (tests/python/numerics.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numerics_round_trip_at_every_precision_limit_in_text_and_binary() {
    let python = std::env::var("ATOLL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("ATOLL_TEST_PYTHON is not set: run the tests through ./scripts/test.sh, which installs psycopg")
    });
    let cluster = TestCluster::must_start(1).await;
    let url = format!("postgresql://atoll@{}/postgres", cluster.nodes[0].sql);
    let script = crate::manifest_dir().join("../../tests/python/numerics.py");
    let output = Command::new(&python).arg(script).arg(&url).output().expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "numerics.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("numerics: ok"), "{stdout}");
}
