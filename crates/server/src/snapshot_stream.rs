//! Range snapshots over the network: the sending task behind
//! [`atoll_replication::Transport::send_snapshot`] and the receiving end of `Peer.Snapshot`
//! (the replication crate's `snapshot` module describes the whole life of one).
//!
//! The sender reads chunks on a blocking thread, at most [`SNAPSHOT_CHUNKS_IN_FLIGHT_MAX`]
//! ahead of the network, paced to the node's `--snapshot-rate-mb`, and streams them on a
//! connection of their own, so a snapshot never waits behind, or delays, the Raft batches of
//! the peer stream. gRPC's flow control bounds what is in flight. The receiver writes each
//! chunk to a file before it asks for the next, so neither side holds more than a few chunks
//! whatever the range's size. A stream that moves nothing for
//! [`SNAPSHOT_STALL_TIMEOUT_SECONDS`] is abandoned by both sides.

use crate::node::NodeContext;
use crate::transport::{AddressBook, LinkFaults};
use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{SnapshotAck, SnapshotChunk};
use atoll_replication::metrics::StoreMetrics;
use atoll_replication::raft::eraftpb::{Message as RaftMessage, MessageType};
use atoll_replication::snapshot::{encode_id, Direction, OutgoingSnapshot, SnapshotReader};
use atoll_types::limits::{SNAPSHOT_CHUNKS_IN_FLIGHT_MAX, SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_STALL_TIMEOUT_SECONDS};
use atoll_types::RangeId;
use protobuf::Message as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};
use tracing::{info, warn};

fn stall_timeout() -> Duration {
    Duration::from_secs(SNAPSHOT_STALL_TIMEOUT_SECONDS)
}

/// What a node's snapshot senders share.
#[derive(Clone)]
pub struct SnapshotSender {
    pub from: u64,
    pub addresses: AddressBook,
    pub faults: Arc<LinkFaults>,
    pub metrics: StoreMetrics,
    /// Bytes per second of one snapshot stream.
    pub rate_bytes_per_second: u64,
    pub message_bytes_max: usize,
    /// BROKEN ON PURPOSE, for tests of the checkers: chunks are sent without their MVCC pairs.
    pub unsafe_drop_history: bool,
    /// Plain or mutual TLS towards the receiver.
    pub tls: crate::peer_tls::PeerTls,
}

impl SnapshotSender {
    /// Streams one snapshot and reports the outcome; runs as a task of its own.
    pub async fn run(self, snapshot: OutgoingSnapshot) {
        let OutgoingSnapshot { range_id, to, message, reader, done } = snapshot;
        let started = Instant::now();
        let sent = done.progress().counter();
        match self.stream(range_id, to.0, message, reader, sent.clone()).await {
            Ok(bytes) => {
                self.metrics.snapshot_send_seconds.observe(started.elapsed().as_secs_f64());
                info!(%range_id, to = to.0, bytes, seconds = started.elapsed().as_secs_f64(), "snapshot sent");
                done.finish(true);
            }
            Err(e) => {
                self.metrics.snapshot_send_failures.inc();
                warn!(%range_id, to = to.0, sent = sent.load(Ordering::Relaxed), error = %e, "snapshot send failed");
                done.finish(false);
            }
        }
    }

    async fn stream(
        &self,
        range_id: RangeId,
        to: u64,
        message: RaftMessage,
        reader: Box<dyn SnapshotReader>,
        sent: Arc<AtomicU64>,
    ) -> Result<u64, String> {
        let address =
            self.addresses.read().ok().and_then(|a| a.get(&to).cloned()).ok_or("no address for the receiver")?;
        if self.faults.is_blocked(to) {
            return Err("link to the receiver is cut".into());
        }
        let endpoint = self.tls.endpoint(&address, Duration::from_secs(1))?;
        let channel = endpoint.connect().await.map_err(|e| format!("connect to {address}: {e}"))?;
        let mut client = PeerClient::new(channel).max_encoding_message_size(self.message_bytes_max);
        let first = SnapshotChunk {
            from_node_id: self.from,
            to_node_id: to,
            range_id: range_id.0,
            raft_message: message.write_to_bytes().map_err(|e| e.to_string())?,
            data: Vec::new(),
            last: false,
        };
        let (chunks, receiver) = mpsc::channel(SNAPSHOT_CHUNKS_IN_FLIGHT_MAX);
        let producer = Producer {
            reader,
            chunks,
            sent: sent.clone(),
            rate: self.rate_bytes_per_second,
            faults: self.faults.clone(),
            to,
            unsafe_drop_history: self.unsafe_drop_history,
        };
        let metrics = self.metrics.clone();
        let reading = tokio::task::spawn_blocking(move || producer.run(first, &metrics));
        let call = client.snapshot(ReceiverStream::new(receiver));
        let answer = watch_progress(call, &sent).await;
        let read = reading.await.map_err(|e| format!("snapshot reader task: {e}"))?;
        let acked = answer?;
        read?;
        Ok(acked.bytes)
    }
}

/// Awaits the call, abandoning it when no chunk has moved for the stall timeout.
async fn watch_progress(
    call: impl std::future::Future<Output = Result<tonic::Response<SnapshotAck>, Status>>,
    sent: &AtomicU64,
) -> Result<SnapshotAck, String> {
    tokio::pin!(call);
    let mut last = (sent.load(Ordering::Relaxed), Instant::now());
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            answer = &mut call => return answer.map(|r| r.into_inner()).map_err(|s| format!("receiver: {}", s.message())),
            _ = check.tick() => {
                let now = sent.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() >= stall_timeout() {
                    return Err("no progress within the stall timeout".into());
                }
            }
        }
    }
}

/// Reads chunks from the engine snapshot on a blocking thread and paces them.
struct Producer {
    reader: Box<dyn SnapshotReader>,
    chunks: mpsc::Sender<SnapshotChunk>,
    sent: Arc<AtomicU64>,
    rate: u64,
    faults: Arc<LinkFaults>,
    to: u64,
    unsafe_drop_history: bool,
}

/// BROKEN ON PURPOSE: the chunk without its MVCC pairs (the range state stays, so the install
/// succeeds and the replica silently lacks data).
fn drop_history(data: Vec<u8>) -> Vec<u8> {
    use atoll_proto::Message as _;
    match atoll_proto::atoll::RangeSnapshotData::decode(data.as_slice()) {
        Ok(mut chunk) => {
            chunk.mvcc.clear();
            chunk.encode_to_vec()
        }
        Err(_) => data,
    }
}

impl Producer {
    fn run(mut self, first: SnapshotChunk, metrics: &StoreMetrics) -> Result<(), String> {
        let started = Instant::now();
        self.chunks.blocking_send(first).map_err(|_| "stream closed")?;
        let mut bytes = 0u64;
        loop {
            let data = self.reader.next_chunk(SNAPSHOT_CHUNK_BYTES_MAX).map_err(|e| e.to_string())?;
            let last = data.is_none();
            let mut data = data.unwrap_or_default();
            if self.unsafe_drop_history {
                data = drop_history(data);
            }
            bytes += data.len() as u64;
            if self.faults.is_blocked(self.to) {
                return Err("link to the receiver cut".into());
            }
            let chunk = SnapshotChunk { data, last, ..Default::default() };
            let length = chunk.data.len() as u64;
            self.chunks.blocking_send(chunk).map_err(|_| "stream closed")?;
            self.sent.fetch_add(length, Ordering::Relaxed);
            metrics.snapshot_bytes_sent.inc_by(length);
            if last {
                return Ok(());
            }
            pace(bytes, self.rate, started);
        }
    }
}

/// Sleeps until `bytes` fit in `rate` bytes per second since `started`.
fn pace(bytes: u64, rate: u64, started: Instant) {
    if rate == 0 {
        return;
    }
    let due = Duration::from_secs_f64(bytes as f64 / rate as f64);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(wait);
    }
}

/// Receives one snapshot stream: checks it, writes it to a file, hands the `MsgSnapshot` to
/// the store with that file, and acknowledges.
pub async fn receive(context: &NodeContext, mut stream: Streaming<SnapshotChunk>) -> Result<SnapshotAck, Status> {
    let first = next(&mut stream).await?.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
    let (range_id, from) = (RangeId(first.range_id), first.from_node_id);
    if first.to_node_id != context.node_id.0 {
        return Err(Status::failed_precondition(format!(
            "snapshot for node {} reached node {}",
            first.to_node_id, context.node_id.0
        )));
    }
    if context.faults.is_blocked(from) {
        return Err(Status::unavailable("link from the sender is cut"));
    }
    let mut message = RaftMessage::parse_from_bytes(&first.raft_message)
        .map_err(|e| Status::invalid_argument(format!("undecodable snapshot message: {e}")))?;
    if message.get_msg_type() != MessageType::MsgSnapshot || message.to != context.node_id.0 || message.from != from {
        return Err(Status::invalid_argument(
            "the first chunk must carry a snapshot message from its sender to this node",
        ));
    }
    if context.store.snapshot_progress().installing(range_id) {
        return Err(Status::unavailable("the replica is installing an earlier snapshot; retry later"));
    }
    let _permit = context
        .snapshot_receives
        .clone()
        .try_acquire_owned()
        .map_err(|_| Status::resource_exhausted("this node receives as many snapshots as it may; retry later"))?;
    let progress = context.store.snapshot_progress().start(range_id, from, Direction::Receive);
    let files = context.store.snapshot_files().clone();
    let mut writer = files.create().map_err(|e| Status::internal(e.0))?;
    // What the install would stop the node on is refused here, from the peer's bytes.
    let mut check = atoll_kv::snapshot::SnapshotCheck::new(range_id);
    let mut chunk = first;
    loop {
        let length = chunk.data.len() as u64;
        if length > 0 {
            let data = chunk.data;
            (writer, check) = tokio::task::spawn_blocking(move || {
                check.chunk(&data)?;
                writer.write_chunk(&data).map(|()| (writer, check))
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(Status::invalid_argument)?;
            progress.add(length);
            context.store.metrics().snapshot_bytes_received.inc_by(length);
        }
        if chunk.last {
            break;
        }
        if context.faults.is_blocked(from) {
            return Err(Status::unavailable("link from the sender is cut"));
        }
        chunk = tokio::time::timeout(stall_timeout(), next(&mut stream))
            .await
            .map_err(|_| Status::deadline_exceeded("snapshot stream stalled"))??
            .ok_or_else(|| Status::invalid_argument("snapshot stream ended before its last chunk"))?;
    }
    check.finish(message.get_snapshot().get_metadata().index).map_err(Status::invalid_argument)?;
    let bytes = writer.bytes();
    let file_id = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::internal)?;
    message.mut_snapshot().set_data(encode_id(file_id).into());
    // Past this call the store owns the file (and removes it if it does not take it).
    let answer = context.store.step_snapshot(range_id, message, file_id).map_err(|e| {
        files.remove(file_id);
        Status::unavailable(e.to_string())
    })?;
    match answer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Status::unavailable(e.to_string())),
        Err(_) => return Err(Status::unavailable("the store stopped")),
    }
    info!(%range_id, from, bytes, "snapshot received");
    Ok(SnapshotAck { bytes })
}

async fn next(stream: &mut Streaming<SnapshotChunk>) -> Result<Option<SnapshotChunk>, Status> {
    stream.next().await.transpose()
}
