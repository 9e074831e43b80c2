//! The list-append checker against hand-made histories with known anomalies.

use super::*;

fn append(key: &str, element: u64) -> MicroOp {
    MicroOp::Append(key.into(), element)
}

fn read(key: &str, list: &[u64]) -> MicroOp {
    MicroOp::Read(key.into(), Some(list.to_vec()))
}

fn ok(ops: Vec<MicroOp>) -> Txn {
    Txn { ops, outcome: TxnOutcome::Committed }
}

fn aborted(ops: Vec<MicroOp>) -> Txn {
    Txn { ops, outcome: TxnOutcome::Aborted }
}

#[test]
fn serial_history_has_no_anomaly() {
    let history = vec![
        ok(vec![append("x", 1)]),
        ok(vec![read("x", &[1]), append("x", 2), read("x", &[1, 2])]),
        ok(vec![read("x", &[1, 2]), read("y", &[])]),
    ];
    assert_eq!(check(&history), vec![]);
}

#[test]
fn aborted_read_is_g1a() {
    let history = vec![aborted(vec![append("x", 1)]), ok(vec![read("x", &[1])])];
    assert!(check(&history).contains(&Anomaly::G1a { reader: 1, writer: 0, element: 1 }));
}

#[test]
fn intermediate_read_is_g1b() {
    let history = vec![ok(vec![append("x", 1), append("x", 2)]), ok(vec![read("x", &[1])])];
    assert!(check(&history).contains(&Anomaly::G1b { reader: 1, writer: 0, element: 1 }));
}

#[test]
fn write_cycle_is_g0() {
    let history = vec![
        ok(vec![append("x", 1), append("y", 2)]),
        ok(vec![append("x", 3), append("y", 4)]),
        ok(vec![read("x", &[1, 3]), read("y", &[4, 2])]),
    ];
    assert!(check(&history).iter().any(|a| matches!(a, Anomaly::G0(_))));
}

#[test]
fn circular_information_flow_is_g1c() {
    let history = vec![ok(vec![append("x", 1), read("y", &[2])]), ok(vec![append("y", 2), read("x", &[1])])];
    assert!(check(&history).iter().any(|a| matches!(a, Anomaly::G1c(_))));
}

#[test]
fn lost_update_is_g_single() {
    let history = vec![
        ok(vec![append("x", 1)]),
        ok(vec![read("x", &[1]), append("x", 2)]),
        ok(vec![read("x", &[1]), append("x", 3)]),
        ok(vec![read("x", &[1, 2, 3])]),
    ];
    let anomalies = check(&history);
    assert!(anomalies.iter().any(|a| matches!(a, Anomaly::GSingle(_))), "{anomalies:?}");
}

#[test]
fn write_skew_is_g2() {
    let history = vec![
        ok(vec![read("x", &[]), read("y", &[]), append("x", 1)]),
        ok(vec![read("x", &[]), read("y", &[]), append("y", 2)]),
        ok(vec![read("x", &[1]), read("y", &[2])]),
    ];
    let anomalies = check(&history);
    assert!(anomalies.iter().any(|a| matches!(a, Anomaly::G2(_))), "{anomalies:?}");
    assert!(!anomalies.iter().any(|a| matches!(a, Anomaly::GSingle(_))), "{anomalies:?}");
}

#[test]
fn reads_that_disagree_on_order_are_reported() {
    let history = vec![
        ok(vec![append("x", 1)]),
        ok(vec![append("x", 2)]),
        ok(vec![read("x", &[1, 2])]),
        ok(vec![read("x", &[2])]),
    ];
    assert!(check(&history).iter().any(|a| matches!(a, Anomaly::IncompatibleOrder { .. })));
}

#[test]
fn reading_past_ones_own_append_is_internal_inconsistency() {
    let history = vec![ok(vec![append("x", 5), read("x", &[])])];
    assert!(check(&history).contains(&Anomaly::Internal { txn: 0, key: "x".into() }));
}

#[test]
fn reading_an_element_nobody_wrote_is_garbage() {
    let history = vec![ok(vec![read("x", &[99])])];
    assert!(check(&history).contains(&Anomaly::GarbageRead { reader: 0, element: 99 }));
}

#[test]
fn unknown_transactions_whose_writes_were_seen_count_as_committed() {
    let history = vec![Txn { ops: vec![append("x", 1)], outcome: TxnOutcome::Unknown }, ok(vec![read("x", &[1])])];
    assert_eq!(check(&history), vec![]);
}
