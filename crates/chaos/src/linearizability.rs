//! Is a history of register operations linearizable?
//!
//! The history is split by key (a history is linearizable iff each key's sub-history is:
//! locality), and each key is searched with the Wing & Gong algorithm as improved by Lowe and
//! used by Porcupine: walk the operations in real-time order, try to linearize a pending
//! operation whose call has been seen, backtrack when a return is reached before its operation
//! was linearized, and memoise (set of linearized operations, register state) pairs so that no
//! configuration is explored twice.
//!
//! Operations whose outcome is unknown get a return time of infinity: they may take effect at
//! any point after their call, including never (linearized after everything else). Failed
//! operations are left out; reads with unknown outcome have no effect and are left out too.

use crate::history::{Action, History, Operation, Outcome};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The verdict for a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// Not linearizable: the key, and a small window of its operations around the first one
    /// that could not be placed.
    Violation {
        key: String,
        operations: Vec<Operation>,
    },
    /// The search exceeded its budget for this key; nothing was proven either way.
    Unknown {
        key: String,
    },
}

/// Search steps per key before giving up: bounds the checker's time on pathological histories.
const STEPS_PER_KEY_MAX: u64 = 20_000_000;

/// Operations shown around a violation.
const VIOLATION_WINDOW: usize = 12;

/// Checks a register history (each key starts absent).
pub fn check(history: &History) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for operation in &history.operations {
        by_key.entry(operation.key.as_str()).or_default().push(operation);
    }
    for (key, operations) in by_key {
        match check_key(&operations) {
            KeyVerdict::Ok => {}
            KeyVerdict::Stuck(index) => {
                return Verdict::Violation { key: key.to_string(), operations: window(&operations, index) };
            }
            KeyVerdict::Budget => return Verdict::Unknown { key: key.to_string() },
        }
    }
    Verdict::Linearizable
}

fn window(operations: &[&Operation], culprit: usize) -> Vec<Operation> {
    let culprit_op = operations[culprit];
    let mut related: Vec<Operation> = operations
        .iter()
        .filter(|op| op.outcome != Outcome::Failed)
        .filter(|op| op.invoked <= culprit_op.completed)
        .map(|op| (*op).clone())
        .collect();
    related.sort_by_key(|op| op.completed);
    let keep_from = related.len().saturating_sub(VIOLATION_WINDOW);
    let mut shown = related.split_off(keep_from);
    shown.sort_by_key(|op| op.invoked);
    shown
}

enum KeyVerdict {
    Ok,
    /// Index (into the key's operations) of the operation whose return could not be reached.
    Stuck(usize),
    Budget,
}

/// The effect of one operation on the register, or `None` if it cannot happen in `state`.
fn step(state: Option<u64>, operation: &Operation) -> Option<Option<u64>> {
    match (&operation.action, &operation.outcome) {
        (Action::Read, Outcome::Read(seen)) => (*seen == state).then_some(state),
        (Action::Write(value), Outcome::Written | Outcome::Unknown) => Some(Some(*value)),
        (Action::Cas { expected, new }, Outcome::Cas(true)) => (state == Some(*expected)).then_some(Some(*new)),
        (Action::Cas { expected, .. }, Outcome::Cas(false)) => (state != Some(*expected)).then_some(state),
        (Action::Cas { expected, new }, Outcome::Unknown) => {
            Some(if state == Some(*expected) { Some(*new) } else { state })
        }
        _ => None,
    }
}

fn relevant(operation: &Operation) -> bool {
    match operation.outcome {
        Outcome::Failed => false,
        Outcome::Unknown => operation.action != Action::Read,
        _ => true,
    }
}

#[derive(Clone, Copy)]
struct Event {
    operation: usize,
    is_call: bool,
    /// Index of the matching event (call <-> return).
    partner: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

fn build_events(operations: &[&Operation]) -> Vec<Event> {
    let infinity = Duration::MAX;
    let mut points: Vec<(Duration, bool, usize)> = Vec::with_capacity(operations.len() * 2);
    for (index, operation) in operations.iter().enumerate() {
        let returned = if operation.outcome == Outcome::Unknown { infinity } else { operation.completed };
        points.push((operation.invoked, true, index));
        points.push((returned, false, index));
    }
    // At equal times calls come first: treating touching operations as concurrent never
    // rejects a correct history.
    points.sort_by_key(|(time, is_call, index)| (*time, !*is_call, *index));
    let mut call_at = vec![0; operations.len()];
    let mut return_at = vec![0; operations.len()];
    let mut events: Vec<Event> = points
        .iter()
        .enumerate()
        .map(|(position, (_, is_call, index))| {
            if *is_call {
                call_at[*index] = position;
            } else {
                return_at[*index] = position;
            }
            Event { operation: *index, is_call: *is_call, partner: 0, prev: None, next: None }
        })
        .collect();
    let count = events.len();
    for (position, event) in events.iter_mut().enumerate() {
        event.partner = if event.is_call { return_at[event.operation] } else { call_at[event.operation] };
        event.prev = position.checked_sub(1);
        event.next = (position + 1 < count).then_some(position + 1);
    }
    events
}

struct EventList {
    events: Vec<Event>,
    head: Option<usize>,
}

impl EventList {
    fn unlink(&mut self, at: usize) {
        let Event { prev, next, .. } = self.events[at];
        match prev {
            Some(p) => self.events[p].next = next,
            None => self.head = next,
        }
        if let Some(n) = next {
            self.events[n].prev = prev;
        }
    }

    fn relink(&mut self, at: usize) {
        let Event { prev, next, .. } = self.events[at];
        match prev {
            Some(p) => self.events[p].next = Some(at),
            None => self.head = Some(at),
        }
        if let Some(n) = next {
            self.events[n].prev = Some(at);
        }
    }

    /// Removes a call and its return from the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.events[call].partner);
    }

    /// Undoes [`EventList::lift`] (in reverse order, so the links are restored exactly).
    fn unlift(&mut self, call: usize) {
        self.relink(self.events[call].partner);
        self.relink(call);
    }
}

fn check_key(all: &[&Operation]) -> KeyVerdict {
    let operations: Vec<&Operation> = all.iter().copied().filter(|op| relevant(op)).collect();
    if operations.is_empty() {
        return KeyVerdict::Ok;
    }
    let mut list = EventList { head: Some(0), events: build_events(&operations) };
    let words = operations.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut state: Option<u64> = None;
    let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let mut cursor = list.head;
    let mut steps = 0u64;
    let (mut deepest, mut stuck_at) = (0usize, 0usize);
    while let Some(at) = cursor {
        steps += 1;
        if steps > STEPS_PER_KEY_MAX {
            return KeyVerdict::Budget;
        }
        let event = list.events[at];
        if event.is_call {
            if let Some(next_state) = step(state, operations[event.operation]) {
                let (word, bit) = (event.operation / 64, 1u64 << (event.operation % 64));
                linearized[word] |= bit;
                if seen.insert((linearized.clone(), next_state)) {
                    stack.push((at, state));
                    state = next_state;
                    list.lift(at);
                    cursor = list.head;
                    continue;
                }
                linearized[word] &= !bit;
            }
            cursor = event.next;
            continue;
        }
        // A return whose operation is not linearized yet: backtrack.
        if stack.len() >= deepest {
            deepest = stack.len();
            stuck_at = event.operation;
        }
        let Some((call, previous)) = stack.pop() else {
            return KeyVerdict::Stuck(original_index(all, operations[stuck_at]));
        };
        let operation = list.events[call].operation;
        linearized[operation / 64] &= !(1u64 << (operation % 64));
        state = previous;
        list.unlift(call);
        cursor = list.events[call].next;
    }
    KeyVerdict::Ok
}

fn original_index(all: &[&Operation], operation: &Operation) -> usize {
    all.iter().position(|op| std::ptr::eq(*op, operation)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
