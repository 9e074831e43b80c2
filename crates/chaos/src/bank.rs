//! The bank invariant: transfers between accounts never create or destroy money, so every
//! consistent snapshot of all accounts sums to the initial total (and no balance goes
//! negative, since a transfer checks the balance it reads).

/// One snapshot read of every account, as a client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankRead {
    /// Milliseconds since the start of the run.
    pub at_ms: u64,
    pub balances: Vec<Option<i64>>,
}

/// What a bank workload's clients saw, shared between them: snapshot reads and transfer
/// outcomes (committed, aborted, unknown).
#[derive(Default)]
pub struct Tally {
    reads: std::sync::Mutex<Vec<BankRead>>,
    counts: std::sync::Mutex<(usize, usize, usize)>,
}

impl Tally {
    pub fn read(&self, read: BankRead) {
        if let Ok(mut reads) = self.reads.lock() {
            reads.push(read);
        }
    }

    pub fn transfer(&self, outcome: crate::elle::TxnOutcome) {
        use crate::elle::TxnOutcome;
        if let Ok(mut counts) = self.counts.lock() {
            match outcome {
                TxnOutcome::Committed => counts.0 += 1,
                TxnOutcome::Aborted => counts.1 += 1,
                TxnOutcome::Unknown => counts.2 += 1,
            }
        }
    }

    /// The reads and (committed, aborted, unknown) counts.
    pub fn finish(&self) -> (Vec<BankRead>, (usize, usize, usize)) {
        let reads = self.reads.lock().map(|r| r.clone()).unwrap_or_default();
        let counts = self.counts.lock().map(|c| *c).unwrap_or_default();
        (reads, counts)
    }
}

/// Violations found in the reads (empty: the invariant held).
pub fn check(reads: &[BankRead], accounts: usize, total: i64) -> Vec<String> {
    let mut violations = Vec::new();
    for read in reads {
        if read.balances.len() != accounts || read.balances.iter().any(Option::is_none) {
            violations.push(format!("at {} ms: accounts missing in {:?}", read.at_ms, read.balances));
            continue;
        }
        let balances: Vec<i64> = read.balances.iter().flatten().copied().collect();
        let sum: i64 = balances.iter().sum();
        if sum != total {
            violations.push(format!("at {} ms: balances {balances:?} sum to {sum}, not {total}", read.at_ms));
        }
        if balances.iter().any(|b| *b < 0) {
            violations.push(format!("at {} ms: negative balance in {balances:?}", read.at_ms));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(balances: &[i64]) -> BankRead {
        BankRead { at_ms: 1, balances: balances.iter().map(|b| Some(*b)).collect() }
    }

    #[test]
    fn conserved_totals_pass() {
        assert!(check(&[read(&[50, 50]), read(&[0, 100])], 2, 100).is_empty());
    }

    #[test]
    fn created_money_is_a_violation() {
        // What a lost update between two concurrent transfers looks like.
        assert_eq!(check(&[read(&[60, 50])], 2, 100).len(), 1);
    }

    #[test]
    fn negative_balances_and_missing_accounts_are_violations() {
        assert_eq!(check(&[read(&[-10, 110])], 2, 100).len(), 1);
        let missing = BankRead { at_ms: 1, balances: vec![Some(100), None] };
        assert_eq!(check(&[missing], 2, 100).len(), 1);
    }
}
