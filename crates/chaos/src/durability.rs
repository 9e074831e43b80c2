//! Durability: every acknowledged write is readable afterwards, on every replica.

use std::collections::BTreeMap;

/// What went wrong, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurabilityVerdict {
    Ok,
    /// Acknowledged keys missing (or with another value) on a node: (node, key, expected).
    Lost(Vec<(usize, String, String)>),
    /// Replicas disagree although the cluster is quiet: node -> checksum.
    Diverged(Vec<(usize, u64)>),
}

/// A checksum over a replica's key-value pairs (FNV-1a, order-sensitive).
pub fn checksum(data: &BTreeMap<String, String>) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for (key, value) in data {
        for byte in key.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    }
    hash
}

/// Compares what every node holds with what was acknowledged.
pub fn check(acknowledged: &BTreeMap<String, String>, replicas: &[BTreeMap<String, String>]) -> DurabilityVerdict {
    let mut lost = Vec::new();
    for (node, replica) in replicas.iter().enumerate() {
        for (key, value) in acknowledged {
            if replica.get(key) != Some(value) {
                lost.push((node + 1, key.clone(), value.clone()));
            }
        }
    }
    if !lost.is_empty() {
        return DurabilityVerdict::Lost(lost);
    }
    let sums: Vec<(usize, u64)> = replicas.iter().enumerate().map(|(i, r)| (i + 1, checksum(r))).collect();
    if sums.windows(2).any(|pair| pair[0].1 != pair[1].1) {
        return DurabilityVerdict::Diverged(sums);
    }
    DurabilityVerdict::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn all_present_and_equal_is_ok() {
        let acked = map(&[("a", "1")]);
        let replica = map(&[("a", "1"), ("b", "unacknowledged but fine")]);
        assert_eq!(check(&acked, &[replica.clone(), replica]), DurabilityVerdict::Ok);
    }

    #[test]
    fn a_missing_acknowledged_write_is_reported_with_its_node() {
        let acked = map(&[("a", "1"), ("b", "2")]);
        let verdict = check(&acked, &[acked.clone(), map(&[("a", "1")])]);
        assert_eq!(verdict, DurabilityVerdict::Lost(vec![(2, "b".into(), "2".into())]));
    }

    #[test]
    fn diverged_replicas_are_reported() {
        let acked = map(&[("a", "1")]);
        let verdict = check(&acked, &[map(&[("a", "1")]), map(&[("a", "1"), ("z", "9")])]);
        assert!(matches!(verdict, DurabilityVerdict::Diverged(_)));
    }
}
