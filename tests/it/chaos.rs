//! The short fixed-seed chaos suite that runs on every change: `atoll chaos` against real
//! processes, secure (as `atoll chaos` runs unless told `--insecure`: certificates, mutual TLS,
//! clients with root's certificate), and proof that the checker fails on a deliberately broken
//! build.

use std::process::Command;

fn run_chaos(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_atoll")).arg("chaos").args(args).output().expect("run atoll chaos");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn registers_stay_linearizable_through_kills_pauses_and_partitions() {
    let (ok, report) =
        run_chaos(&["--duration-secs", "20", "--seed", "11", "--nemesis", "kill,pause,isolate,isolate-leader"]);
    assert!(ok && report.contains("verdict: linearizable"), "{report}");
    assert!(report.contains("faults injected: "), "{report}");
}

/// Snapshots the nodes installed in a run, from its report (two are the joins of nodes 2, 3).
fn snapshots_installed(report: &str) -> f64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("snapshots installed: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn acknowledged_writes_survive_repeated_kill_9() {
    // A small log: every restarted node catches up by a snapshot.
    let (ok, report) =
        run_chaos(&["--workload", "durability", "--kill-cycles", "6", "--seed", "12", "--small-raft-log"]);
    assert!(ok && report.contains("verdict: no acknowledged write lost"), "{report}");
    assert!(snapshots_installed(&report) > 2.0, "no restarted node needed a snapshot:\n{report}");
}

#[test]
fn the_durability_checker_catches_replicas_caught_up_by_snapshots_without_their_data() {
    let args = ["--workload", "durability", "--kill-cycles", "4", "--seed", "12", "--small-raft-log"];
    let (ok, report) = run_chaos(&[args.as_slice(), &["--unsafe-snapshot-drop-history"]].concat());
    assert!(!ok, "snapshots without their data passed the durability checker:\n{report}");
    assert!(snapshots_installed(&report) > 2.0, "{report}");
}

#[test]
fn registers_stay_linearizable_while_followers_lag_into_snapshots() {
    let (ok, report) = run_chaos(&["--duration-secs", "15", "--seed", "24", "--nemesis", "lag"]);
    assert!(ok && report.contains("verdict: linearizable"), "{report}");
    assert!(snapshots_installed(&report) > 2.0, "no lagging follower needed a snapshot:\n{report}");
}

#[test]
fn bank_transfers_conserve_money_while_followers_lag_into_snapshots() {
    let (ok, report) = run_chaos(&["--workload", "bank", "--duration-secs", "15", "--seed", "25", "--nemesis", "lag"]);
    assert!(ok && report.contains("verdict: every snapshot sums to"), "{report}");
    assert!(snapshots_installed(&report) > 2.0, "no lagging follower needed a snapshot:\n{report}");
}

#[test]
fn the_checker_catches_stale_reads_from_a_broken_build() {
    let (ok, report) =
        run_chaos(&["--duration-secs", "12", "--seed", "13", "--nemesis", "isolate-leader", "--unsafe-stale-reads"]);
    assert!(!ok, "a build that serves reads without ReadIndex passed the checker:\n{report}");
    assert!(report.contains("NOT linearizable"), "{report}");
}

#[test]
fn list_append_transactions_stay_serializable_through_faults() {
    let (ok, report) = run_chaos(&["--workload", "list-append", "--duration-secs", "15", "--seed", "14"]);
    assert!(ok && report.contains("verdict: serializable"), "{report}");
}

#[test]
fn the_checker_catches_lost_updates_from_unvalidated_commits() {
    let (ok, report) = run_chaos(&[
        "--workload",
        "list-append",
        "--duration-secs",
        "8",
        "--seed",
        "15",
        "--nemesis",
        "none",
        "--unsafe-unvalidated-commits",
    ]);
    assert!(!ok && report.contains("NOT serializable"), "{report}");
}

#[test]
fn bank_transfers_conserve_money_through_faults() {
    let (ok, report) = run_chaos(&["--workload", "bank", "--duration-secs", "15", "--seed", "16"]);
    assert!(ok && report.contains("verdict: every snapshot sums to"), "{report}");
}

#[test]
fn sql_bank_transfers_conserve_money_through_faults() {
    let (ok, report) = run_chaos(&["--workload", "sql-bank", "--duration-secs", "15", "--seed", "23"]);
    assert!(ok, "{report}");
    assert!(report.contains("verdict: every snapshot sums to"), "{report}");
    let committed: usize = report
        .lines()
        .find_map(|l| l.strip_prefix("transfers: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(committed > 0, "no transfer committed: {report}");
}

/// Hostile SQL clients beside the SQL bank through faults: every attack (too deep, too large,
/// runaway, malformed, idle in a transaction) is answered as promised, no node exits on its
/// own, and the bank's invariant holds (issue 19).
#[test]
fn hostile_sql_clients_are_contained_through_faults() {
    let (ok, report) = run_chaos(&["--workload", "sql-hostile", "--insecure", "--duration-secs", "15", "--seed", "29"]);
    assert!(ok, "{report}");
    assert!(report.contains("verdict: every attack contained, no node down on its own"), "{report}");
    assert!(report.contains("verdict: every snapshot sums to"), "{report}");
    let answered = report.lines().find(|l| l.starts_with("hostile attacks answered as promised:")).unwrap_or_default();
    for attack in ["TooDeep", "HugeValue", "RunawayWithTimeout", "MalformedBind", "WideDecimal"] {
        assert!(answered.contains(attack), "{attack} never ran: {report}");
    }
}

/// The same run on a build whose statements ignore timeouts, cancels and disconnects: the
/// runaway cross joins go unanswered and the checker must say so.
#[test]
fn hostile_sql_clients_catch_a_build_that_ignores_statement_interrupts() {
    let (ok, report) = run_chaos(&[
        "--workload",
        "sql-hostile",
        "--insecure",
        "--duration-secs",
        "10",
        "--seed",
        "29",
        "--nemesis",
        "none",
        "--unsafe-ignore-statement-interrupts",
    ]);
    assert!(!ok && report.contains("RunawayWithTimeout") && report.contains("surprise"), "{report}");
}
