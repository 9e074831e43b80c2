//! The checker against hand-made histories whose verdict is known.

use super::*;

fn op(client: usize, action: Action, from_ms: u64, to_ms: u64, outcome: Outcome) -> Operation {
    Operation {
        client,
        key: "x".into(),
        action,
        invoked: Duration::from_millis(from_ms),
        completed: Duration::from_millis(to_ms),
        outcome,
    }
}

fn history(operations: Vec<Operation>) -> History {
    History { operations }
}

fn must_be_linearizable(operations: Vec<Operation>) {
    assert_eq!(check(&history(operations)), Verdict::Linearizable);
}

fn must_be_violation(operations: Vec<Operation>) {
    assert!(matches!(check(&history(operations)), Verdict::Violation { .. }), "expected a violation");
}

#[test]
fn sequential_history_is_linearizable() {
    must_be_linearizable(vec![
        op(0, Action::Read, 0, 1, Outcome::Read(None)),
        op(0, Action::Write(1), 2, 3, Outcome::Written),
        op(1, Action::Read, 4, 5, Outcome::Read(Some(1))),
        op(1, Action::Cas { expected: 1, new: 2 }, 6, 7, Outcome::Cas(true)),
        op(0, Action::Cas { expected: 1, new: 3 }, 8, 9, Outcome::Cas(false)),
        op(0, Action::Read, 10, 11, Outcome::Read(Some(2))),
    ]);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in [None, Some(1)] {
        must_be_linearizable(vec![
            op(0, Action::Write(1), 0, 10, Outcome::Written),
            op(1, Action::Read, 2, 5, Outcome::Read(seen)),
        ]);
    }
}

#[test]
fn stale_read_after_a_completed_write_is_a_violation() {
    must_be_violation(vec![
        op(0, Action::Write(1), 0, 1, Outcome::Written),
        op(0, Action::Write(2), 2, 3, Outcome::Written),
        op(1, Action::Read, 4, 5, Outcome::Read(Some(1))),
    ]);
}

#[test]
fn reads_going_back_in_time_are_a_violation() {
    // Two concurrent writes may be ordered either way, but once a read has seen 2 after 1 was
    // overwritten, a later read cannot see 1 again.
    must_be_violation(vec![
        op(0, Action::Write(1), 0, 10, Outcome::Written),
        op(1, Action::Write(2), 0, 10, Outcome::Written),
        op(2, Action::Read, 11, 12, Outcome::Read(Some(2))),
        op(2, Action::Read, 13, 14, Outcome::Read(Some(1))),
    ]);
}

#[test]
fn lost_update_through_compare_and_set_is_a_violation() {
    must_be_violation(vec![
        op(0, Action::Write(0), 0, 1, Outcome::Written),
        op(1, Action::Cas { expected: 0, new: 1 }, 2, 3, Outcome::Cas(true)),
        op(2, Action::Cas { expected: 0, new: 2 }, 4, 5, Outcome::Cas(true)),
    ]);
}

#[test]
fn reading_a_value_nobody_wrote_is_a_violation() {
    must_be_violation(vec![op(0, Action::Read, 0, 1, Outcome::Read(Some(7)))]);
}

#[test]
fn unknown_write_may_take_effect_late_or_never() {
    let unknown = || op(0, Action::Write(5), 0, 1, Outcome::Unknown);
    must_be_linearizable(vec![unknown(), op(1, Action::Read, 50, 51, Outcome::Read(None))]);
    must_be_linearizable(vec![
        unknown(),
        op(1, Action::Read, 50, 51, Outcome::Read(None)),
        op(1, Action::Read, 60, 61, Outcome::Read(Some(5))),
    ]);
    // Once it was seen it cannot disappear again.
    must_be_violation(vec![
        unknown(),
        op(1, Action::Read, 50, 51, Outcome::Read(Some(5))),
        op(1, Action::Read, 60, 61, Outcome::Read(None)),
    ]);
}

#[test]
fn failed_operations_are_ignored() {
    must_be_linearizable(vec![
        op(0, Action::Write(9), 0, 1, Outcome::Failed),
        op(1, Action::Read, 2, 3, Outcome::Read(None)),
    ]);
}

#[test]
fn keys_are_checked_independently_and_the_violation_names_its_key() {
    let mut bad = op(1, Action::Read, 4, 5, Outcome::Read(Some(1)));
    bad.key = "y".into();
    let mut write_y = op(0, Action::Write(2), 0, 1, Outcome::Written);
    write_y.key = "y".into();
    let verdict = check(&history(vec![op(0, Action::Write(1), 0, 1, Outcome::Written), write_y, bad]));
    match verdict {
        Verdict::Violation { key, operations } => {
            assert_eq!(key, "y");
            assert!(operations.iter().all(|op| op.key == "y"));
            assert!(operations.iter().any(|op| op.outcome == Outcome::Read(Some(1))));
        }
        other => panic!("expected a violation on y, got {other:?}"),
    }
}

#[test]
fn many_concurrent_clients_are_checked_quickly() {
    // 8 clients, 400 operations, all writes distinct, reads see the latest completed write:
    // linearizable, and the memoised search must not blow up.
    let mut operations = Vec::new();
    let mut last = None;
    for i in 0..400u64 {
        let t = i * 10;
        if i % 2 == 0 {
            operations.push(op((i % 8) as usize, Action::Write(i), t, t + 15, Outcome::Written));
            last = Some(i);
        } else {
            operations.push(op((i % 8) as usize, Action::Read, t + 6, t + 8, Outcome::Read(last)));
        }
    }
    must_be_linearizable(operations);
}
