//! Helpers for key spans in etcd's conventions.
//!
//! A span is `[start, end)`. etcd encodes "to the end of the key space" as an end of `\0` and
//! "only this key" as an empty end; [`Span::from_etcd`] turns both into an explicit form.

/// A half-open span of user keys. `end == None` means unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
}

impl Span {
    /// Builds a span from an etcd `key` / `range_end` pair.
    pub fn from_etcd(key: &[u8], range_end: &[u8]) -> Span {
        if range_end.is_empty() {
            let mut end = key.to_vec();
            end.push(0);
            return Span { start: key.to_vec(), end: Some(end) };
        }
        if range_end == [0] {
            return Span { start: key.to_vec(), end: None };
        }
        Span { start: key.to_vec(), end: Some(range_end.to_vec()) }
    }

    /// Whether `key` falls inside the span.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// The span as bounds for `BTreeMap::range` over byte-string keys. An inverted span (end
    /// before start, which matches nothing) gives the empty range at its start, since
    /// `BTreeMap::range` panics on inverted bounds.
    pub fn bounds(&self) -> (std::ops::Bound<&[u8]>, std::ops::Bound<&[u8]>) {
        use std::ops::Bound;
        let end = match &self.end {
            Some(end) if end.as_slice() < self.start.as_slice() => Bound::Excluded(self.start.as_slice()),
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        (Bound::Included(self.start.as_slice()), end)
    }

    /// Whether the span is a single key (as etcd's empty `range_end`).
    pub fn is_single_key(&self) -> bool {
        matches!(&self.end, Some(end) if end.len() == self.start.len() + 1
            && end.starts_with(&self.start) && end.last() == Some(&0))
    }
}

/// The smallest key greater than every key with `prefix`: etcd's `--prefix` range end.
/// Returns `[0]` (unbounded, in etcd's encoding) when no such key exists (all bytes 0xff).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_span_forms() {
        assert!(Span::from_etcd(b"a", b"").is_single_key());
        assert!(Span::from_etcd(b"a", b"").contains(b"a"));
        assert!(!Span::from_etcd(b"a", b"").contains(b"a\0"));
        assert_eq!(Span::from_etcd(b"a", &[0]).end, None);
        assert!(Span::from_etcd(b"a", b"c").contains(b"bzz"));
        assert!(!Span::from_etcd(b"a", b"c").contains(b"c"));
    }

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"ab"), b"ac");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}

#[cfg(test)]
mod bounds_tests {
    use super::Span;
    use std::collections::BTreeMap;

    #[test]
    fn bounds_select_what_contains_selects() {
        let map: BTreeMap<Vec<u8>, ()> =
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()].into_iter().map(|k| (k, ())).collect();
        for span in [
            Span::from_etcd(b"b", b""),
            Span::from_etcd(b"a", b"c"),
            Span::from_etcd(b"b", &[0]),
            Span::from_etcd(b"c", b"a"),
        ] {
            let ranged: Vec<_> = map.range::<[u8], _>(span.bounds()).map(|(k, _)| k.clone()).collect();
            let filtered: Vec<_> = map.keys().filter(|k| span.contains(k)).cloned().collect();
            assert_eq!(ranged, filtered, "{span:?}");
        }
    }
}
