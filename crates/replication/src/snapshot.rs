//! Range snapshots as streams: built off the store loop, sent in bounded chunks, installed in
//! batches, switched in atomically.
//!
//! # Why
//! A follower whose next entry the leader no longer keeps needs the whole state of the range.
//! Built in memory on the store thread and sent as one Raft message, that stalls every range
//! of the node while it is built and cannot exceed one message. Here no step holds more than
//! a few chunks in memory, and the store loop does only constant work per snapshot.
//!
//! # Life of one snapshot
//! 1. **Prepare (leader, store thread).** raft-rs asks [`crate::raft_storage::RaftStorage`]
//!    for a snapshot. It takes the state machine's [`SnapshotReader`], which holds an engine
//!    snapshot (fjall: a sequence number) at exactly the applied index, and registers it in
//!    [`SnapshotSlots`] under a fresh id. The Raft snapshot's `data` is only that id. At most
//!    [`SNAPSHOT_SENDS_MAX`] snapshots are prepared or in flight per node; beyond that raft-rs
//!    hears "temporarily unavailable" and asks again at a later heartbeat.
//! 2. **Send (leader, transport).** When the `MsgSnapshot` leaves the store, the store takes
//!    the reader back by id and hands both to [`crate::Transport::send_snapshot`] as an
//!    [`OutgoingSnapshot`]. The transport reads chunks of [`SNAPSHOT_CHUNK_BYTES_MAX`] on a
//!    blocking thread and streams them at a bounded rate; the leader keeps heartbeating and
//!    serving meanwhile. When the receiver acknowledges (or the stream fails), the
//!    [`SnapshotDone`] guard tells the store, which reports `Finish` (or `Failure`) to raft-rs.
//! 3. **Receive (follower, transport).** Chunks are appended to a file in the snapshot
//!    directory ([`SnapshotFiles`]), each framed with its length and CRC. Only when the last
//!    chunk is in is the file fsynced and renamed from `.part` to `.snap`; then the
//!    `MsgSnapshot` is handed to the store with the file's id in place of the sender's. A
//!    partial file is never named to Raft, and is deleted at the next start.
//! 4. **Switch (follower, store thread).** raft-rs accepts the snapshot in a `Ready`. In the
//!    same fsynced batch as the Raft state (log truncated at the snapshot, conf state, hard
//!    state) the state machine records a durable *restore marker* naming the file
//!    ([`crate::StateMachine::begin_restore`]). From then on the replica neither ticks nor
//!    steps messages nor handles readies, and its reads wait.
//! 5. **Install (follower, own thread).** A [`RestoreJob`] deletes the range's old state and
//!    writes the file's chunks in batches of [`SNAPSHOT_APPLY_BATCH_BYTES`]; its last batch
//!    writes the new applied state and deletes the marker, with fsync. A crash anywhere before
//!    that leaves the marker, and the next start runs the job again from the start, so the
//!    old state, a mix, or a partial file never become visible as the range's state.
//! 6. **Resume.** The job's end reaches the store ([`SnapshotEvent`]); the replica reloads its
//!    state, deletes the file and takes up Raft where the snapshot left it.

use crate::Fatal;
use atoll_storage::encryption::{Cipher, SEAL_OVERHEAD_BYTES};
use atoll_types::limits::{
    SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNK_FRAME_BYTES_MAX, SNAPSHOT_FILE_SYNC_BYTES, SNAPSHOT_SENDS_MAX,
};
use atoll_types::{NodeId, RangeId};
use raft::eraftpb::Message;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use atoll_types::limits::{SNAPSHOT_APPLY_BATCH_BYTES, SNAPSHOT_CHUNK_BYTES_MAX};

/// Reads one range's state as of one moment, chunk by chunk, on any thread.
pub trait SnapshotReader: Send + 'static {
    /// The next chunk of at most about `bytes_max` bytes, or `None` after the last one.
    fn next_chunk(&mut self, bytes_max: usize) -> Result<Option<Vec<u8>>, Fatal>;
}

/// Installs a received snapshot file into the engine, off the store loop. Running it again
/// after a crash must give the same result (it starts by deleting what the range held).
pub trait RestoreJob: Send + 'static {
    /// The file it installs.
    fn file(&self) -> &Path;

    /// Does the work; `progress` is told the bytes installed so far.
    fn run(self: Box<Self>, progress: &dyn Fn(u64)) -> Result<(), Fatal>;
}

/// A restore that must run: its snapshot index and the job that installs it.
pub type PendingRestore = (u64, Box<dyn RestoreJob>);

/// What the store tells itself about snapshot work done on other threads.
pub(crate) enum SnapshotEvent {
    /// A send ended: acknowledged by the receiver (`ok`) or failed, after `bytes`.
    Sent { range_id: RangeId, to: u64, ok: bool, bytes: u64 },
    /// A restore job ended.
    Restored { range_id: RangeId, result: Result<(), Fatal> },
}

/// A snapshot prepared for raft-rs, waiting for its message to leave the store.
struct Prepared {
    reader: Box<dyn SnapshotReader>,
    prepared_at: Instant,
}

/// How long a prepared snapshot waits for its message: raft-rs sends it in the same loop
/// iteration, so one still here later was dropped with its message.
const PREPARED_TTL: Duration = Duration::from_secs(10);

/// The snapshots a node prepares and sends, bounded by [`SNAPSHOT_SENDS_MAX`].
#[derive(Default)]
pub struct SnapshotSlots {
    prepared: Mutex<HashMap<u64, Prepared>>,
    sending: Arc<AtomicUsize>,
    next_id: AtomicU64,
}

impl SnapshotSlots {
    /// Whether another snapshot may be prepared now.
    pub fn has_room(&self) -> bool {
        let prepared = self.prepared.lock().map(|p| p.len()).unwrap_or(usize::MAX);
        prepared.saturating_add(self.sending.load(Ordering::Acquire)) < SNAPSHOT_SENDS_MAX
    }

    /// Registers a reader; returns the id that stands for it in the Raft message.
    pub fn prepare(&self, reader: Box<dyn SnapshotReader>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel) + 1;
        if let Ok(mut prepared) = self.prepared.lock() {
            prepared.insert(id, Prepared { reader, prepared_at: Instant::now() });
        }
        id
    }

    /// Takes the reader back for sending; the slot counts as sending until the guard drops.
    fn take(&self, id: u64) -> Option<(Box<dyn SnapshotReader>, SendSlot)> {
        let prepared = self.prepared.lock().ok()?.remove(&id)?;
        self.sending.fetch_add(1, Ordering::AcqRel);
        Some((prepared.reader, SendSlot(self.sending.clone())))
    }

    /// Drops prepared snapshots whose message never left.
    pub(crate) fn expire(&self, now: Instant) {
        if let Ok(mut prepared) = self.prepared.lock() {
            prepared.retain(|_, p| now.duration_since(p.prepared_at) < PREPARED_TTL);
        }
    }

    /// Snapshots being sent now.
    pub fn sending(&self) -> usize {
        self.sending.load(Ordering::Acquire)
    }
}

/// Holds one of the node's send slots until dropped.
struct SendSlot(Arc<AtomicUsize>);

impl Drop for SendSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Encodes the sender's snapshot id into a Raft snapshot's `data`.
pub fn encode_id(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// Decodes a snapshot id from a Raft snapshot's `data`.
pub fn decode_id(data: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(data.try_into().ok()?))
}

/// One snapshot for the transport to send: the `MsgSnapshot`, the reader of its state and the
/// guard that reports the outcome.
pub struct OutgoingSnapshot {
    pub range_id: RangeId,
    pub to: NodeId,
    /// The `MsgSnapshot`, to deliver to the receiver's store once the state is there.
    pub message: Message,
    pub reader: Box<dyn SnapshotReader>,
    pub done: SnapshotDone,
}

/// Reports the end of a send to the store exactly once: [`SnapshotDone::finish`], or failure
/// when dropped unfinished (a task that panicked or was cancelled still frees its slot).
pub struct SnapshotDone {
    range_id: RangeId,
    to: u64,
    events: Sender<SnapshotEvent>,
    reported: bool,
    _slot: SendSlot,
    progress: ProgressGuard,
}

impl SnapshotDone {
    /// Reports the outcome: `ok` when the receiver acknowledged the whole snapshot.
    pub fn finish(mut self, ok: bool) {
        self.report(ok);
    }

    /// Counts bytes sent, for status and metrics.
    pub fn progress(&self) -> &ProgressGuard {
        &self.progress
    }

    fn report(&mut self, ok: bool) {
        if !self.reported {
            self.reported = true;
            let bytes = self.progress.bytes();
            let _ = self.events.send(SnapshotEvent::Sent { range_id: self.range_id, to: self.to, ok, bytes });
        }
    }
}

impl Drop for SnapshotDone {
    fn drop(&mut self) {
        self.report(false);
    }
}

/// Builds the outgoing snapshot for a `MsgSnapshot` leaving the store, or `None` if its
/// reader is gone (expired): raft-rs then hears of a failure and prepares another.
pub(crate) fn outgoing(
    slots: &SnapshotSlots,
    progress: &SnapshotProgress,
    events: &Sender<SnapshotEvent>,
    range_id: RangeId,
    message: Message,
) -> Option<OutgoingSnapshot> {
    let id = decode_id(message.get_snapshot().get_data())?;
    let (reader, slot) = slots.take(id)?;
    let to = message.to;
    let guard = progress.start(range_id, to, Direction::Send);
    let done = SnapshotDone { range_id, to, events: events.clone(), reported: false, _slot: slot, progress: guard };
    Some(OutgoingSnapshot { range_id, to: NodeId(to), message, reader, done })
}

/// Which way a snapshot moves, seen from this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Send,
    Receive,
    Apply,
}

impl Direction {
    /// A word for status output.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Send => "sending",
            Direction::Receive => "receiving",
            Direction::Apply => "applying",
        }
    }
}

/// One snapshot in progress, as status shows it.
#[derive(Clone, Debug)]
pub struct ProgressEntry {
    pub range_id: RangeId,
    /// The other node: the receiver when sending, the sender when receiving, this node when
    /// applying.
    pub peer: u64,
    pub direction: Direction,
    pub bytes: u64,
    pub elapsed: Duration,
}

type ProgressKey = (RangeId, u64, Direction);
type ProgressMap = Mutex<BTreeMap<ProgressKey, (Arc<AtomicU64>, Instant)>>;

/// The snapshots this node is sending, receiving and applying now.
#[derive(Clone, Default)]
pub struct SnapshotProgress {
    entries: Arc<ProgressMap>,
}

impl SnapshotProgress {
    /// Starts tracking one snapshot; it disappears when the guard drops.
    pub fn start(&self, range_id: RangeId, peer: u64, direction: Direction) -> ProgressGuard {
        let bytes = Arc::new(AtomicU64::new(0));
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert((range_id, peer, direction), (bytes.clone(), Instant::now()));
        }
        ProgressGuard { entries: self.entries.clone(), key: (range_id, peer, direction), bytes }
    }

    /// Whether this node is installing a snapshot of `range_id` now (a receiver refuses
    /// another before it streams it in).
    pub fn installing(&self, range_id: RangeId) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        entries.keys().any(|(range, _, direction)| *range == range_id && *direction == Direction::Apply)
    }

    /// Everything in progress.
    pub fn list(&self) -> Vec<ProgressEntry> {
        let Ok(entries) = self.entries.lock() else { return Vec::new() };
        entries
            .iter()
            .map(|((range_id, peer, direction), (bytes, started))| ProgressEntry {
                range_id: *range_id,
                peer: *peer,
                direction: *direction,
                bytes: bytes.load(Ordering::Relaxed),
                elapsed: started.elapsed(),
            })
            .collect()
    }
}

/// Counts the bytes of one snapshot in progress; removes it from the list when dropped.
pub struct ProgressGuard {
    entries: Arc<ProgressMap>,
    key: ProgressKey,
    bytes: Arc<AtomicU64>,
}

impl ProgressGuard {
    /// Adds bytes moved.
    pub fn add(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Sets the bytes moved so far.
    pub fn set(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Bytes moved so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The counter itself, for a thread that moves the bytes.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.entries.lock() {
            let ours = entries.get(&self.key).is_some_and(|(bytes, _)| Arc::ptr_eq(bytes, &self.bytes));
            if ours {
                entries.remove(&self.key);
            }
        }
    }
}

/// The directory where received snapshots are kept until installed: `<id>.part` while the
/// stream is coming in, `<id>.snap` once complete and fsynced.
pub struct SnapshotFiles {
    dir: PathBuf,
    next_id: AtomicU64,
    /// Seals every chunk on an encrypted store (`atoll_storage::encryption`).
    cipher: Option<Arc<Cipher>>,
}

fn io_fatal(what: &str, path: &Path, e: impl std::fmt::Display) -> Fatal {
    Fatal(format!("snapshot file {}: {what}: {e}", path.display()))
}

impl SnapshotFiles {
    /// Uses (and creates) `dir`. Ids start from the clock so that a restarted node never
    /// reuses the id of a file a crashed run left behind.
    /// `cipher`: the store's, on an encrypted store; the files' chunks are sealed with it.
    pub fn open(dir: PathBuf, cipher: Option<Arc<Cipher>>) -> Result<Self, Fatal> {
        std::fs::create_dir_all(&dir).map_err(|e| io_fatal("create directory", &dir, e))?;
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Ok(SnapshotFiles { dir, next_id: AtomicU64::new(seed), cipher })
    }

    /// The path of the complete snapshot `id`.
    pub fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.snap"))
    }

    /// Starts a new file for an incoming snapshot.
    pub fn create(&self) -> Result<SnapshotFileWriter, Fatal> {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        let part = self.dir.join(format!("{id:020}.part"));
        let file = std::fs::File::create(&part).map_err(|e| io_fatal("create", &part, e))?;
        Ok(SnapshotFileWriter {
            id,
            part,
            done: self.path(id),
            file: Some(std::io::BufWriter::new(file)),
            bytes: 0,
            unsynced: 0,
            cipher: self.cipher.clone(),
            chunks: 0,
        })
    }

    /// Deletes every file but those in `keep`: partial files and snapshots nobody installs.
    pub fn clean(&self, keep: &[PathBuf]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if !keep.contains(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Deletes the complete snapshot `id`, if it is there.
    pub fn remove(&self, id: u64) {
        let _ = std::fs::remove_file(self.path(id));
    }
}

/// Frame header: chunk length (4 bytes BE) and CRC-32 of the chunk (4 bytes BE).
const FRAME_HEADER_BYTES: usize = 8;

/// Writes one incoming snapshot to its `.part` file.
pub struct SnapshotFileWriter {
    id: u64,
    part: PathBuf,
    done: PathBuf,
    /// `None` once finished.
    file: Option<std::io::BufWriter<std::fs::File>>,
    bytes: u64,
    /// Bytes written since the last sync (see [`SNAPSHOT_FILE_SYNC_BYTES`]).
    unsynced: u64,
    /// Seals each chunk, on an encrypted store.
    cipher: Option<Arc<Cipher>>,
    /// Chunks written (a chunk is sealed bound to its place in the file).
    chunks: u64,
}

impl SnapshotFileWriter {
    /// The id the complete file will have.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Appends one chunk. Refuses chunks over [`SNAPSHOT_CHUNK_FRAME_BYTES_MAX`] and
    /// snapshots over [`SNAPSHOT_BYTES_MAX`]: input from a peer.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        if chunk.len() > SNAPSHOT_CHUNK_FRAME_BYTES_MAX {
            return Err(format!("snapshot chunk of {} bytes is over the limit", chunk.len()));
        }
        self.bytes += chunk.len() as u64;
        if self.bytes > SNAPSHOT_BYTES_MAX {
            return Err(format!("snapshot is over the limit of {SNAPSHOT_BYTES_MAX} bytes"));
        }
        let sealed;
        let chunk = match &self.cipher {
            Some(cipher) => {
                sealed = cipher.seal(&[CHUNK_CONTEXT, &self.chunks.to_be_bytes()], chunk);
                sealed.as_slice()
            }
            None => chunk,
        };
        self.chunks += 1;
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&(chunk.len() as u32).to_be_bytes());
        header[4..].copy_from_slice(&crc32fast::hash(chunk).to_be_bytes());
        let Some(file) = self.file.as_mut() else { return Err("snapshot file already finished".into()) };
        self.unsynced += (FRAME_HEADER_BYTES + chunk.len()) as u64;
        let sync = self.unsynced >= SNAPSHOT_FILE_SYNC_BYTES;
        if sync {
            self.unsynced = 0;
        }
        let mut write = || {
            file.write_all(&header)?;
            file.write_all(chunk)?;
            if sync {
                file.flush()?;
                file.get_ref().sync_data()?;
            }
            Ok::<(), std::io::Error>(())
        };
        write().map_err(|e| format!("writing {}: {e}", self.part.display()))
    }

    /// Bytes of chunks written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Makes the file durable and complete (`.snap`); returns its id.
    pub fn finish(mut self) -> Result<u64, String> {
        let part = self.part.clone();
        let describe = |e: std::io::Error| format!("finishing {}: {e}", part.display());
        let file = self.file.take().ok_or("snapshot file already finished")?;
        let file = file.into_inner().map_err(|e| describe(e.into_error()))?;
        file.sync_all().map_err(describe)?;
        std::fs::rename(&self.part, &self.done).map_err(describe)?;
        if let Some(dir) = self.done.parent() {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(describe)?;
        }
        Ok(self.id)
    }
}

impl Drop for SnapshotFileWriter {
    fn drop(&mut self) {
        // An unfinished stream leaves nothing behind; after `finish` the part is gone anyway.
        let _ = std::fs::remove_file(&self.part);
    }
}

/// What a sealed chunk is bound to, with its index in the file.
const CHUNK_CONTEXT: &[u8] = b"atoll snapshot chunk";

/// Reads the chunks of a complete snapshot file back, checking each one's CRC.
pub struct SnapshotFileReader {
    path: PathBuf,
    file: std::io::BufReader<std::fs::File>,
    /// Opens each chunk, on an encrypted store.
    cipher: Option<Arc<Cipher>>,
    chunks: u64,
}

impl SnapshotFileReader {
    /// Opens a complete snapshot file; `cipher`: the store's, on an encrypted store.
    pub fn open(path: &Path, cipher: Option<Arc<Cipher>>) -> Result<Self, Fatal> {
        let file = std::fs::File::open(path).map_err(|e| io_fatal("open", path, e))?;
        Ok(SnapshotFileReader { path: path.to_path_buf(), file: std::io::BufReader::new(file), cipher, chunks: 0 })
    }

    /// The next chunk, or `None` at the end. A torn or corrupt frame is fatal: the file was
    /// fsynced before it was named to Raft, so the disk lost or changed what it acknowledged.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Fatal> {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        match self.file.read_exact(&mut header[..1]) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io_fatal("read", &self.path, e)),
        }
        self.file.read_exact(&mut header[1..]).map_err(|e| io_fatal("read frame header", &self.path, e))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if length > SNAPSHOT_CHUNK_FRAME_BYTES_MAX + SEAL_OVERHEAD_BYTES {
            return Err(io_fatal("frame", &self.path, format!("chunk length {length} over the limit")));
        }
        let mut chunk = vec![0u8; length];
        self.file.read_exact(&mut chunk).map_err(|e| io_fatal("read chunk", &self.path, e))?;
        if crc32fast::hash(&chunk) != crc {
            return Err(io_fatal("frame", &self.path, "checksum mismatch"));
        }
        let index = self.chunks;
        self.chunks += 1;
        match &self.cipher {
            Some(cipher) => cipher
                .open(&[CHUNK_CONTEXT, &index.to_be_bytes()], &chunk)
                .map(Some)
                .map_err(|e| io_fatal("chunk", &self.path, e)),
            None => Ok(Some(chunk)),
        }
    }
}

#[cfg(test)]
mod tests;
