//! Unmodified PostgreSQL tools against a 3-node cluster: psql (queries and the `\d` family),
//! and pgbench's initialisation
//! (COPY, ALTER TABLE ADD PRIMARY KEY, VACUUM; its 100,000-row commits are staged in parts)
//! followed by a TPC-B-like run of eight clients with no failed transaction, whose balances
//! must agree afterwards.

use crate::cluster::TestCluster;
use std::process::Command;

fn must_run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} is not installed ({e}): run the tests through ./scripts/test.sh, which installs it")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{program} {args:?} failed:\n{stdout}\n{stderr}");
    stdout + &stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_pgbench_run_unmodified() {
    let cluster = TestCluster::must_start(3).await;
    let (host, port) = cluster.nodes[0].sql.split_once(':').expect("host:port");
    let url = format!("postgresql://atoll@{host}:{port}/postgres");
    let out =
        must_run("psql", &[&url, "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE bench", "-c", "SELECT 1 + 1 AS two"]);
    assert!(out.contains("two") && out.contains(" 2"), "{out}");
    // Notices and warnings reach the client as PostgreSQL sends them.
    let notices = must_run(
        "psql",
        &[
            &url,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "DROP TABLE IF EXISTS nope",
            "-c",
            "BEGIN; BEGIN; COMMIT",
            "-c",
            "COMMIT",
        ],
    );
    for line in [
        "NOTICE:  table \"nope\" does not exist, skipping",
        "WARNING:  there is already a transaction in progress",
        "WARNING:  there is no transaction in progress",
    ] {
        assert!(notices.contains(line), "psql did not show {line:?}:\n{notices}");
    }

    let bench_url = format!("postgresql://atoll@{host}:{port}/bench");
    let init = must_run("pgbench", &["-i", "-s", "1", &bench_url]);
    assert!(init.contains("done in"), "{init}");
    // psql's describe commands read pg_catalog.
    let listed = must_run("psql", &[&bench_url, "-v", "ON_ERROR_STOP=1", "-c", "\\dt", "-c", "\\l", "-c", "\\du"]);
    for table in ["pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"] {
        assert!(listed.contains(&format!("public | {table}")), "\\dt misses {table}:\n{listed}");
    }
    assert!(listed.contains(" bench ") && listed.contains(" postgres "), "\\l misses a database:\n{listed}");
    assert!(listed.contains("List of roles") && listed.contains(" atoll "), "\\du misses the role:\n{listed}");
    let described = must_run("psql", &[&bench_url, "-v", "ON_ERROR_STOP=1", "-c", "\\d pgbench_accounts"]);
    for line in ["aid      | integer", "not null", "\"pgbench_accounts_pkey\" PRIMARY KEY, btree (aid)"] {
        assert!(described.contains(line), "\\d pgbench_accounts misses {line:?}:\n{described}");
    }
    // Eight clients without pgbench's own retries (`--max-tries` stays 1): writers of the same
    // branch row queue for its lock instead of failing each other with 40001.
    let (host2, port2) = cluster.nodes[2].sql.split_once(':').expect("host:port");
    let run =
        must_run("pgbench", &["-h", host2, "-p", port2, "-U", "atoll", "-c", "8", "-j", "2", "-t", "20", "bench"]);
    assert!(run.contains("number of failed transactions: 0 "), "{run}");
    assert!(run.contains("number of transactions actually processed: 160/160"), "{run}");
    let sums = must_run(
        "psql",
        &[
            &bench_url,
            "-Atc",
            "SELECT (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(abalance) FROM pgbench_accounts), \
             (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history), \
             (SELECT count(*) FROM pgbench_history)",
        ],
    );
    assert_eq!(sums.trim(), "t|t|160", "balances must agree after the run");
    let select_only = must_run(
        "pgbench",
        &["-h", host, "-p", port, "-U", "atoll", "-S", "-M", "prepared", "-c", "2", "-t", "50", "bench"],
    );
    assert!(select_only.contains("number of failed transactions: 0 "), "{select_only}");
}
