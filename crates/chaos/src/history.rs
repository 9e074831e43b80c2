//! What clients did and saw: one [`Operation`] per request, with its invocation and completion
//! times and outcome.

use std::time::Duration;

/// A register operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the current value (`None`: the key does not exist).
    Read,
    /// Overwrite the value.
    Write(u64),
    /// Set to `new` if the current value is `expected`.
    Cas { expected: u64, new: u64 },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A read returned this value.
    Read(Option<u64>),
    /// A write was acknowledged.
    Written,
    /// A compare-and-set was acknowledged: whether it swapped.
    Cas(bool),
    /// The operation definitely did not take effect (for example a read that failed).
    Failed,
    /// Unknown whether it took effect (timeout, connection lost after sending).
    Unknown,
}

/// One client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: usize,
    pub key: String,
    pub action: Action,
    /// Since the start of the run.
    pub invoked: Duration,
    /// Since the start of the run; for [`Outcome::Unknown`] this is meaningless: the operation
    /// may take effect at any time after `invoked`.
    pub completed: Duration,
    pub outcome: Outcome,
}

/// Everything the clients of one run did.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub operations: Vec<Operation>,
}

impl History {
    /// Operations per outcome kind: (ok, failed, unknown).
    pub fn counts(&self) -> (usize, usize, usize) {
        let failed = self.operations.iter().filter(|o| o.outcome == Outcome::Failed).count();
        let unknown = self.operations.iter().filter(|o| o.outcome == Outcome::Unknown).count();
        (self.operations.len() - failed - unknown, failed, unknown)
    }
}
