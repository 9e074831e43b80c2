//! The differential test against PostgreSQL 15 (tests/pgdiff/pgdiff.py): every statement of the
//! corpus (tests/pgdiff/corpus, by feature) and of the seeded random generator (gen.py, seed 1)
//! runs on a throwaway PostgreSQL and on a one-node cluster, and their answers are compared
//! (SQLSTATE, command tag, column names and type OIDs, values in text and binary). A difference
//! that tests/pgdiff/intended.txt or known.txt does not list fails the test, and so does a listed
//! statement that answers the same now. ./scripts/test.sh installs PostgreSQL 15 (Debian's
//! package, for pgbench) and names the Python with psycopg in ATOLL_TEST_PYTHON.

use crate::cluster::TestCluster;
use std::process::{Command, Output};

fn pgdiff(sql_address: &str, args: &[&str]) -> Output {
    let python = std::env::var("ATOLL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("ATOLL_TEST_PYTHON is not set: run the tests through ./scripts/test.sh, which installs psycopg")
    });
    let script = crate::manifest_dir().join("../../tests/pgdiff/pgdiff.py");
    let url = format!("postgresql://atoll@{sql_address}/postgres");
    Command::new(python).arg(script).args(["--atoll", &url]).args(args).output().expect("run pgdiff.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_postgresql_statement_for_statement() {
    let cluster = TestCluster::must_start(1).await;
    let output = pgdiff(&cluster.nodes[0].sql, &["--random-seed", "1", "--random-queries", "300"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "new differences from PostgreSQL:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.starts_with("pgdiff: ") && summary.contains(" 0 different"), "{stdout}");
    println!("{summary}");
}

/// The comparison can fail: with no list of known differences, the corpus file of the issue's
/// own examples differs, and the run says where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_difference_fails_the_run() {
    let cluster = TestCluster::must_start(1).await;
    let corpus = crate::manifest_dir().join("../../tests/pgdiff/corpus/issue20.sql");
    let output =
        pgdiff(&cluster.nodes[0].sql, &["--corpus", corpus.to_str().expect("utf-8 path"), "--known", "/dev/null"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "a run with differences passed:\n{stdout}");
    assert!(stdout.contains("DIFFERENT issue20.sql:") && stdout.contains("  postgres: "), "{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.starts_with("pgdiff: ") && !summary.contains(" 0 different"), "{stdout}");
}
