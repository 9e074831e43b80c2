//! The store loop's side of snapshots (see [`crate::snapshot`] for the whole life of one): it
//! hands outgoing snapshots to the transport, switches a replica to a received snapshot, runs
//! the install off the loop, and takes the replica back up when the install ends.

use super::Store;
use crate::peer::Peer;
use crate::snapshot::{self, Direction, RestoreJob, SnapshotEvent, SnapshotFiles};
use crate::{Error, Fatal, StateMachine, Transport};
use atoll_storage::WriteBatch;
use atoll_types::RangeId;
use raft::eraftpb::{Message, Snapshot};
use raft::SnapshotStatus;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Switches `peer` to the snapshot a Ready brought: the Raft log restarts after it, and the
/// state machine's restore marker goes into `batch`, which the loop fsyncs with the Raft state.
pub(super) fn begin_restore<S: StateMachine>(
    peer: &mut Peer<S>,
    files: &SnapshotFiles,
    snapshot: &Snapshot,
    batch: &mut WriteBatch,
) -> Result<(), Fatal> {
    let meta = snapshot.get_metadata();
    let file_id = snapshot::decode_id(snapshot.get_data());
    // raft-rs hands back only snapshots that were stepped in, and only the snapshot stream
    // steps them, with the id of a complete local file.
    let file_id = file_id.unwrap_or_else(|| panic!("range {}: snapshot without a local file id", peer.range_id));
    assert_eq!(
        peer.incoming_snapshot,
        Some(file_id),
        "range {}: a snapshot Ready for a file not stepped in",
        peer.range_id
    );
    peer.incoming_snapshot = None;
    peer.storage().apply_snapshot(snapshot, batch)?;
    let voters = meta.get_conf_state().voters.clone();
    let path = files.path(file_id);
    let mut machine = peer.state_machine.lock().map_err(|_| Fatal("poisoned".into()))?;
    machine.begin_restore(meta.index, &voters, &path, batch)?;
    info!(range_id = %peer.range_id, index = meta.index, term = meta.term, voters = ?voters, file = %path.display(), "switching to a received snapshot");
    Ok(())
}

impl<S: StateMachine, T: Transport> Store<S, T> {
    /// Hands a `MsgSnapshot` leaving the store to the transport with its reader; a snapshot
    /// whose reader expired is reported failed, so raft-rs prepares another.
    pub(super) fn send_snapshot(&mut self, range_id: RangeId, message: Message) {
        let to = message.to;
        match snapshot::outgoing(&self.slots, &self.progress, &self.events_sender, range_id, message) {
            Some(outgoing) => {
                self.metrics.snapshots_sent.inc();
                info!(node_id = %self.config.node_id, %range_id, to, index = outgoing.message.get_snapshot().get_metadata().index, "sending a snapshot");
                self.transport.send_snapshot(outgoing);
            }
            None => {
                warn!(%range_id, to, "snapshot reader expired before its message left");
                if let Some(peer) = self.ranges.get_mut(&range_id) {
                    peer.raw.report_snapshot(to, SnapshotStatus::Failure);
                }
            }
        }
    }

    /// Steps a received `MsgSnapshot` whose state is in the complete file `file_id`. The
    /// replica keeps at most one such file; a replica that is installing one takes no other.
    pub(super) fn step_snapshot(&mut self, range_id: RangeId, message: Message, file_id: u64) -> Result<(), Error> {
        let Some(peer) = self.ranges.get_mut(&range_id) else {
            self.files.remove(file_id);
            return Err(Error::RangeNotFound(range_id));
        };
        if peer.restoring.is_some() {
            debug!(%range_id, "received snapshot while installing one; refused");
            self.files.remove(file_id);
            return Err(Error::SnapshotNotTaken("the replica is installing an earlier snapshot"));
        }
        if peer.raw.raft.raft_log.unstable_snapshot().is_some() {
            self.files.remove(file_id);
            return Err(Error::SnapshotNotTaken("the replica took another snapshot that waits to be written"));
        }
        if let Some(previous) = peer.incoming_snapshot.replace(file_id) {
            self.files.remove(previous);
        }
        self.step(range_id, message);
        Ok(())
    }

    /// After the marker is durable: runs the install of the snapshot a Ready brought.
    pub(super) fn start_pending_restore(&mut self, range_id: RangeId) -> Result<(), Fatal> {
        let Some(peer) = self.ranges.get(&range_id) else { return Ok(()) };
        let pending = peer.state_machine.lock().map_err(|_| Fatal("poisoned".into()))?.pending_restore()?;
        let (_, job) =
            pending.ok_or_else(|| Fatal(format!("range {range_id}: restore marker missing after its write")))?;
        self.start_restore_job(range_id, job)
    }

    /// Marks the replica as installing and runs `job` on a thread of its own.
    pub(super) fn start_restore_job(&mut self, range_id: RangeId, job: Box<dyn RestoreJob>) -> Result<(), Fatal> {
        let Some(peer) = self.ranges.get_mut(&range_id) else { return Ok(()) };
        assert!(peer.restoring.is_none(), "range {range_id}: two snapshot installs at once");
        peer.restoring = Some(job.file().to_path_buf());
        let progress = self.progress.start(range_id, self.config.node_id.0, Direction::Apply);
        let events = self.events_sender.clone();
        let started = Instant::now();
        let node_id = self.config.node_id;
        let metrics = self.metrics.clone();
        std::thread::Builder::new()
            .name(format!("restore-r{}", range_id.0))
            .spawn(move || {
                let result = job.run(&|bytes| progress.set(bytes));
                metrics.snapshot_bytes_applied.inc_by(progress.bytes());
                metrics.snapshot_apply_seconds.observe(started.elapsed().as_secs_f64());
                info!(%node_id, %range_id, bytes = progress.bytes(), seconds = started.elapsed().as_secs_f64(), ok = result.is_ok(), "snapshot install ended");
                let _ = events.send(SnapshotEvent::Restored { range_id, result });
            })
            .map_err(|e| Fatal(format!("cannot start a snapshot install thread: {e}")))?;
        Ok(())
    }

    /// Takes in what snapshot work on other threads finished: sends end in a report to
    /// raft-rs, installs end with the replica taken back up. A failed install is fatal: the
    /// replica's state is half replaced, and only a restart (which redoes it) can go on.
    pub(super) fn handle_snapshot_events(&mut self) -> Result<(), Fatal> {
        while let Ok(event) = self.events.try_recv() {
            match event {
                SnapshotEvent::Sent { range_id, to, ok, bytes } => {
                    let Some(peer) = self.ranges.get_mut(&range_id) else { continue };
                    let status = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                    let progress = peer.raw.raft.prs().get(to);
                    let pending =
                        progress.filter(|p| p.state == raft::ProgressState::Snapshot).map(|p| p.pending_snapshot);
                    match pending {
                        Some(index) if ok => {
                            peer.snapshot_bytes_sent = bytes;
                            peer.snapshots_delivered.insert(to, index);
                        }
                        _ => {
                            peer.snapshots_delivered.remove(&to);
                        }
                    }
                    info!(%range_id, to, ok, bytes, "snapshot send ended");
                    peer.raw.report_snapshot(to, status);
                }
                SnapshotEvent::Restored { range_id, result } => {
                    result?;
                    self.finish_restore(range_id)?;
                }
            }
        }
        Ok(())
    }

    fn finish_restore(&mut self, range_id: RangeId) -> Result<(), Fatal> {
        let Some(peer) = self.ranges.get_mut(&range_id) else { return Ok(()) };
        peer.state_machine.lock().map_err(|_| Fatal("poisoned".into()))?.finish_restore()?;
        if let Some(path) = peer.restoring.take() {
            let _ = std::fs::remove_file(path);
        }
        let deferred = std::mem::take(&mut peer.deferred);
        self.metrics.snapshots_applied.inc();
        self.apply_entries(range_id, deferred)?;
        if let Some(peer) = self.ranges.get_mut(&range_id) {
            peer.answer_reads(Instant::now());
        }
        Ok(())
    }
}
