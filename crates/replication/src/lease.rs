//! Leader leases: a leader that a quorum confirmed recently answers linearizable reads at its
//! commit index without another heartbeat round.
//!
//! # Why it is safe
//! A lease starts when a ReadIndex round is *sent* (not when it returns), and lasts
//! [`lease_duration`]: `election_ticks - 2` ticks. Every follower that acknowledged the round
//! heard from this leader at or after that instant. With `check_quorum`, raft-rs makes a
//! follower ignore vote and pre-vote requests until `election_ticks` of its own ticks have passed
//! since it last heard from a leader, and the store loop never ticks faster than its interval;
//! so after the first of those ticks a follower refuses votes for at least
//! `(election_ticks - 1)` tick intervals. A new leader needs a vote from one of the
//! acknowledging followers (quorums intersect), so none can exist until the lease has ended,
//! with one tick interval left as margin for the rate drift between the nodes' clocks.
//!
//! The clock is [`Instant`] (monotonic): a leader that was paused (SIGSTOP, a long GC-like
//! stall) finds its lease expired when it resumes, and takes the ReadIndex path again. This is
//! the difference from raft-rs's own `ReadOnlyOption::LeaseBased`, which trusts the leader's
//! state and counts no time at all.
//!
//! Two cases the follower-side rule does not cover are closed elsewhere or here:
//! - a follower that restarts forgets when it last heard from the leader; the store drops vote
//!   requests for one lease duration after it starts ([`crate::store`]);
//! - a conf change in progress or a leadership transfer: no lease is used while either is
//!   pending.

use std::time::{Duration, Instant};

/// How long a lease lasts from the moment its confirming round was sent.
pub fn lease_duration(tick_interval: Duration, election_ticks: usize) -> Duration {
    tick_interval * election_ticks.saturating_sub(2) as u32
}

/// A leader's lease on one range.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lease {
    /// The term in which the quorum confirmed this node as leader.
    term: u64,
    /// The lease is valid strictly before this instant.
    until: Option<Instant>,
}

/// What the leader's raft state says at the moment of a read.
pub(crate) struct LeaderState {
    pub term: u64,
    pub is_leader: bool,
    pub transferring: bool,
    pub conf_change_pending: bool,
}

impl Lease {
    /// Records that a quorum confirmed leadership in `term` for a round sent at `sent`.
    pub fn extend(&mut self, term: u64, sent: Instant, duration: Duration) {
        let until = sent + duration;
        if self.term != term {
            *self = Lease { term, until: Some(until) };
        } else if self.until.is_none_or(|current| current < until) {
            self.until = Some(until);
        }
    }

    /// The term the lease was confirmed in.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Whether a read arriving `now` may be served at the commit index without a round.
    pub fn covers(&self, now: Instant, state: &LeaderState) -> bool {
        state.is_leader
            && !state.transferring
            && !state.conf_change_pending
            && state.term == self.term
            && self.until.is_some_and(|until| now < until)
    }

    /// Whether the lease is valid at `now` but past half its length: time to renew it, so that
    /// reads never fall back to a round while the leader is healthy.
    pub fn wants_renewal(&self, now: Instant, duration: Duration) -> bool {
        self.until.is_some_and(|until| until.saturating_duration_since(now) < duration / 2)
    }
}

/// A leader's lease as the store loop publishes it, so that a linearizable read on the
/// leader can be served without a trip through the store loop (two thread hand-offs).
///
/// # Why a published copy is safe to use
/// - `until` is the end of a lease the loop holds, or `None`. A reader that finds
///   `now < until` is covered by the same argument as the loop itself: no other leader can
///   exist before `until`, whatever this node's state became since the copy was published.
/// - The exceptions are a leadership transfer and a conf change, which can put a new quorum in
///   place early. Both reach other nodes only through messages this node sends, and the loop
///   publishes again before it sends any message of the range, with `until = None` once
///   either is pending.
/// - `commit_index` is published before any message of the range leaves, so it is at least
///   the index of every entry a follower could have applied and acknowledged. Entries this
///   node acknowledged itself are applied here first. A read that finds the applied index at
///   or above `commit_index` and reads at the applied revision therefore sees every write
///   acknowledged before it started.
#[derive(Debug)]
pub struct PublishedLease {
    state: std::sync::Mutex<Published>,
    /// Reads served from the published copy since the loop last counted them (see
    /// [`crate::load`]).
    local_reads: std::sync::atomic::AtomicU64,
    /// Signalled by the loop after it applies entries, for reads waiting on the applied index.
    applied: tokio::sync::Notify,
    /// A reader found the lease in its second half: the loop sends a renewal round.
    renewal_wanted: std::sync::atomic::AtomicBool,
    duration: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Published {
    until: Option<Instant>,
    commit_index: u64,
}

impl PublishedLease {
    pub fn new(duration: Duration) -> Self {
        PublishedLease {
            state: Default::default(),
            local_reads: Default::default(),
            applied: Default::default(),
            renewal_wanted: Default::default(),
            duration,
        }
    }

    /// Publishes the loop's view: the lease end (`None`: no lease) and the commit index.
    pub fn publish(&self, until: Option<Instant>, commit_index: u64) {
        let next = Published { until, commit_index };
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = next;
    }

    /// The index a read arriving `now` must see applied, if the lease covers it.
    pub fn read_index(&self, now: Instant) -> Option<u64> {
        let state = *self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = state.until.filter(|until| now < *until)?;
        if until.saturating_duration_since(now) < self.duration / 2 {
            self.renewal_wanted.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Some(state.commit_index)
    }

    /// Wakes the reads waiting for the applied index (the loop applied entries).
    pub fn notify_applied(&self) {
        self.applied.notify_waiters();
    }

    /// Waits until `applied()` reaches `index`, at most `patience`; whether it did. A read
    /// that arrives while commits are in flight waits here for their apply, on its own task,
    /// instead of a trip through the loop behind the iteration's fsync.
    pub async fn wait_applied(&self, index: u64, applied: &impl Fn() -> u64, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let notified = self.applied.notified();
            tokio::pin!(notified);
            // Registered before the check, so an apply in between still wakes this read.
            notified.as_mut().enable();
            if applied() >= index {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return applied() >= index;
            }
        }
    }

    /// Counts one read served from the published copy.
    pub fn count_local_read(&self) {
        self.local_reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The reads counted since the last call.
    pub fn take_local_reads(&self) -> u64 {
        self.local_reads.swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a reader asked for a renewal since the last call.
    pub fn take_renewal(&self) -> bool {
        self.renewal_wanted.swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Lease {
    /// The end of the lease if it may be used now by the published copy: the same conditions
    /// as [`Lease::covers`] except the clock, which the reader checks.
    pub(crate) fn publishable_until(&self, state: &LeaderState) -> Option<Instant> {
        let usable = state.is_leader && !state.transferring && !state.conf_change_pending && state.term == self.term;
        self.until.filter(|_| usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURATION: Duration = Duration::from_millis(800);

    fn leader(term: u64) -> LeaderState {
        LeaderState { term, is_leader: true, transferring: false, conf_change_pending: false }
    }

    #[test]
    fn the_default_timing_leaves_one_tick_of_margin_before_a_new_leader_can_exist() {
        // 100 ms ticks, 10 election ticks: a follower refuses votes for at least 900 ms.
        assert_eq!(lease_duration(Duration::from_millis(100), 10), DURATION);
        assert_eq!(lease_duration(Duration::from_millis(100), 1), Duration::ZERO);
    }

    #[test]
    fn a_lease_runs_from_the_send_of_its_round_not_from_its_answer() {
        let sent = Instant::now();
        let mut lease = Lease::default();
        assert!(!lease.covers(sent, &leader(3)), "no lease before any round");
        lease.extend(3, sent, DURATION);
        assert!(lease.covers(sent + Duration::from_millis(799), &leader(3)));
        assert!(!lease.covers(sent + DURATION, &leader(3)));
        // A paused leader resumes with the clock moved on: no lease.
        assert!(!lease.covers(sent + Duration::from_secs(10), &leader(3)));
    }

    #[test]
    fn a_lease_ends_with_its_term_and_with_leadership() {
        let sent = Instant::now();
        let mut lease = Lease::default();
        lease.extend(3, sent, DURATION);
        assert!(!lease.covers(sent, &leader(4)), "a lease from an older term");
        let follower = LeaderState { is_leader: false, ..leader(3) };
        assert!(!lease.covers(sent, &follower));
        let transferring = LeaderState { transferring: true, ..leader(3) };
        assert!(!lease.covers(sent, &transferring));
        let changing = LeaderState { conf_change_pending: true, ..leader(3) };
        assert!(!lease.covers(sent, &changing));
    }

    #[test]
    fn an_older_round_never_shortens_a_lease_and_a_new_term_replaces_it() {
        let sent = Instant::now();
        let mut lease = Lease::default();
        lease.extend(3, sent + Duration::from_millis(500), DURATION);
        lease.extend(3, sent, DURATION);
        assert!(lease.covers(sent + Duration::from_millis(1200), &leader(3)));
        lease.extend(4, sent, DURATION);
        assert!(!lease.covers(sent + Duration::from_millis(1200), &leader(4)));
        assert!(lease.covers(sent, &leader(4)));
    }

    #[test]
    fn renewal_is_due_in_the_second_half_of_a_lease() {
        let sent = Instant::now();
        let mut lease = Lease::default();
        assert!(!lease.wants_renewal(sent, DURATION), "no lease, nothing to renew");
        lease.extend(3, sent, DURATION);
        assert!(!lease.wants_renewal(sent + Duration::from_millis(300), DURATION));
        assert!(lease.wants_renewal(sent + Duration::from_millis(500), DURATION));
    }

    #[test]
    fn a_published_lease_answers_until_it_ends_and_asks_for_renewal_in_its_second_half() {
        let now = Instant::now();
        let published = PublishedLease::new(DURATION);
        assert_eq!(published.read_index(now), None, "nothing published");
        published.publish(Some(now + DURATION), 42);
        assert_eq!(published.read_index(now), Some(42));
        assert!(!published.take_renewal());
        assert_eq!(published.read_index(now + Duration::from_millis(500)), Some(42));
        assert!(published.take_renewal(), "second half");
        assert!(!published.take_renewal(), "asked once");
        assert_eq!(published.read_index(now + DURATION), None, "ended");
        published.publish(None, 43);
        assert_eq!(published.read_index(now), None, "revoked");
    }

    #[tokio::test]
    async fn a_read_waits_for_the_apply_it_needs_and_gives_up_after_its_patience() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let published = Arc::new(PublishedLease::new(DURATION));
        let applied = Arc::new(AtomicU64::new(5));
        let (p, a) = (published.clone(), applied.clone());
        let applier = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            a.store(7, Ordering::SeqCst);
            p.notify_applied();
        });
        let read = || applied.load(Ordering::SeqCst);
        assert!(published.wait_applied(5, &read, Duration::ZERO).await, "already applied");
        assert!(published.wait_applied(7, &read, Duration::from_secs(5)).await, "woken by the apply");
        applier.await.expect("applier");
        assert!(!published.wait_applied(8, &read, Duration::from_millis(20)).await, "never applied");
    }

    #[test]
    fn a_lease_is_not_published_during_a_transfer_a_conf_change_or_another_term() {
        let sent = Instant::now();
        let mut lease = Lease::default();
        lease.extend(3, sent, DURATION);
        assert_eq!(lease.publishable_until(&leader(3)), Some(sent + DURATION));
        assert_eq!(lease.publishable_until(&LeaderState { transferring: true, ..leader(3) }), None);
        assert_eq!(lease.publishable_until(&LeaderState { conf_change_pending: true, ..leader(3) }), None);
        assert_eq!(lease.publishable_until(&LeaderState { is_leader: false, ..leader(3) }), None);
        assert_eq!(lease.publishable_until(&leader(4)), None);
    }
}
