//! The context of a proposal's log entry: who proposed it, which of its proposals it is, and
//! in which term (see `Store::drop_superseded` for what the term is for).

/// What an entry's context says about its proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProposalContext {
    pub node_id: u64,
    pub proposal_id: u64,
    /// The proposer's term; `None` in entries written before contexts carried it.
    pub term: Option<u64>,
}

impl ProposalContext {
    pub fn parse(context: &[u8]) -> Option<Self> {
        let word = |at: usize| context.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
        Some(ProposalContext { node_id: word(0)?, proposal_id: word(8)?, term: word(16) })
    }

    /// Whether an entry with this context, appended in `entry_term`, was appended by a leader
    /// of a later term than the one its proposer was in.
    pub fn appended_late(&self, entry_term: u64) -> bool {
        self.term.is_some_and(|term| entry_term > term)
    }
}

/// The context of proposal `proposal_id` of `node_id`, made in `term`: each 8 bytes BE.
pub(crate) fn encode(node_id: u64, proposal_id: u64, term: u64) -> Vec<u8> {
    [node_id.to_be_bytes(), proposal_id.to_be_bytes(), term.to_be_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_names_its_proposer_and_term_and_tells_a_late_append() {
        let context = ProposalContext::parse(&encode(3, 77, 5)).expect("parse");
        assert_eq!(context, ProposalContext { node_id: 3, proposal_id: 77, term: Some(5) });
        assert!(!context.appended_late(5), "appended in the term it was proposed in");
        assert!(context.appended_late(6), "appended by a later leader");
        let old = ProposalContext::parse(&encode(3, 77, 5)[..16]).expect("a context without a term");
        assert_eq!(old.term, None);
        assert!(!old.appended_late(100), "entries of older nodes are never skipped");
        assert_eq!(ProposalContext::parse(b"short"), None, "an empty or foreign context");
    }
}
