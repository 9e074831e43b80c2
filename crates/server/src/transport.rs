//! Raft messages between nodes over long-lived gRPC client streams.
//!
//! Each destination node gets one queue and one task. The task keeps one `Peer.Raft` client
//! stream open and sends whatever is queued as one [`RaftBatch`] per wake-up, so many ranges'
//! messages share one frame and no message pays for a unary call (~0.2 ms each on loopback).
//! When the queue is full, new messages are dropped: Raft retransmits what it needs, and a
//! dead peer must not make the store loop wait or grow memory without bound.

use crate::snapshot_stream::SnapshotSender;
use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{RaftBatch, RaftEnvelope};
use atoll_replication::snapshot::OutgoingSnapshot;
use atoll_replication::{Envelope, Transport};
use atoll_types::limits::PEER_QUEUE_MESSAGES_MAX;
use atoll_types::NodeId;
use protobuf::Message as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

/// Where each node listens for peer RPC, kept current from the membership table.
pub type AddressBook = Arc<RwLock<HashMap<u64, String>>>;

/// Test-only fault switches for the peer transport: cut, lossy or slow links to a node.
/// The fault harness flips these through the HTTP admin endpoint of a node started with
/// `--enable-fault-injection`.
#[derive(Default)]
pub struct LinkFaults {
    /// Nodes this node neither sends to nor accepts messages from.
    pub blocked: RwLock<std::collections::HashSet<u64>>,
    /// Percentage of messages to a node that are dropped (a lossy link).
    pub drop_percent: RwLock<HashMap<u64, u8>>,
    /// Delay added to every batch sent to a node (a slow link).
    pub delay: RwLock<HashMap<u64, Duration>>,
}

impl LinkFaults {
    /// Whether traffic to or from `node` is cut.
    pub fn is_blocked(&self, node: u64) -> bool {
        self.blocked.read().map(|b| b.contains(&node)).unwrap_or(false)
    }

    /// Whether to drop one message to `node` on a lossy link.
    fn drops(&self, node: u64) -> bool {
        let percent = self.drop_percent.read().ok().and_then(|d| d.get(&node).copied()).unwrap_or(0);
        percent > 0 && rand::random::<u8>() % 100 < percent
    }

    /// The delay of the link to `node`.
    fn delay_to(&self, node: u64) -> Option<Duration> {
        self.delay.read().ok().and_then(|d| d.get(&node).copied())
    }

    /// Restores every link.
    pub fn heal(&self) {
        if let Ok(mut blocked) = self.blocked.write() {
            blocked.clear();
        }
        if let Ok(mut drops) = self.drop_percent.write() {
            drops.clear();
        }
        if let Ok(mut delay) = self.delay.write() {
            delay.clear();
        }
    }
}

/// The gRPC [`Transport`].
#[derive(Clone)]
pub struct GrpcTransport {
    node_id: NodeId,
    addresses: AddressBook,
    queues: Arc<Mutex<HashMap<u64, mpsc::Sender<RaftEnvelope>>>>,
    runtime: tokio::runtime::Handle,
    faults: Arc<LinkFaults>,
    snapshots: SnapshotSender,
}

impl GrpcTransport {
    /// A transport for `node_id` whose tasks run on `runtime`; `snapshots` sends snapshots.
    pub fn new(
        node_id: NodeId,
        addresses: AddressBook,
        runtime: tokio::runtime::Handle,
        faults: Arc<LinkFaults>,
        snapshots: SnapshotSender,
    ) -> Self {
        GrpcTransport { node_id, addresses, queues: Arc::default(), runtime, faults, snapshots }
    }

    fn queue(&self, to: u64) -> Option<mpsc::Sender<RaftEnvelope>> {
        let mut queues = self.queues.lock().ok()?;
        if let Some(queue) = queues.get(&to).filter(|q| !q.is_closed()) {
            return Some(queue.clone());
        }
        let (sender, receiver) = mpsc::channel(PEER_QUEUE_MESSAGES_MAX);
        queues.insert(to, sender.clone());
        let task = PeerSender {
            from: self.node_id.0,
            to,
            addresses: self.addresses.clone(),
            receiver,
            faults: self.faults.clone(),
            message_bytes_max: self.snapshots.message_bytes_max,
            tls: self.snapshots.tls.clone(),
        };
        self.runtime.spawn(task.run());
        Some(sender)
    }
}

impl Transport for GrpcTransport {
    fn send(&self, to: NodeId, messages: Vec<Envelope>) {
        if self.faults.is_blocked(to.0) {
            return;
        }
        let Some(queue) = self.queue(to.0) else { return };
        for envelope in messages {
            if self.faults.drops(to.0) {
                continue;
            }
            let Ok(bytes) = envelope.message.write_to_bytes() else { continue };
            if queue.try_send(RaftEnvelope { range_id: envelope.range_id.0, message: bytes }).is_err() {
                debug!(to = to.0, "peer queue full; dropping raft message");
            }
        }
    }

    fn send_snapshot(&self, snapshot: OutgoingSnapshot) {
        self.runtime.spawn(self.snapshots.clone().run(snapshot));
    }
}

/// The task that owns the stream to one peer.
struct PeerSender {
    from: u64,
    to: u64,
    addresses: AddressBook,
    receiver: mpsc::Receiver<RaftEnvelope>,
    faults: Arc<LinkFaults>,
    message_bytes_max: usize,
    tls: crate::peer_tls::PeerTls,
}

/// Messages packed into one batch at most: bounds a frame when a queue has piled up.
const BATCH_MESSAGES_MAX: usize = 512;

impl PeerSender {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let address = self.addresses.read().ok().and_then(|a| a.get(&self.to).cloned());
            let Some(address) = address else {
                debug!(to = self.to, "no address for peer yet");
                if !self.wait_discarding(Duration::from_millis(500)).await {
                    return;
                }
                continue;
            };
            match self.stream_to(&address).await {
                StreamEnd::QueueClosed => return,
                StreamEnd::Broken => {
                    if !self.wait_discarding(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Sleeps while dropping queued messages (they would be stale when the peer returns).
    async fn wait_discarding(&mut self, pause: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + pause;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                message = self.receiver.recv() => if message.is_none() { return false },
            }
        }
    }

    async fn stream_to(&mut self, address: &str) -> StreamEnd {
        let endpoint = match self.tls.endpoint(address, Duration::from_secs(1)) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                debug!(to = self.to, %address, error = %e, "peer endpoint refused");
                return StreamEnd::Broken;
            }
        };
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => {
                debug!(to = self.to, %address, error = %e, "peer connect failed");
                return StreamEnd::Broken;
            }
        };
        debug!(to = self.to, %address, "peer stream opened");
        let mut client = PeerClient::new(channel).max_encoding_message_size(self.message_bytes_max);
        let (sender, receiver) = mpsc::channel::<RaftBatch>(16);
        let mut call = tokio::spawn(async move { client.raft(ReceiverStream::new(receiver)).await });
        loop {
            let first = tokio::select! {
                message = self.receiver.recv() => message,
                result = &mut call => {
                    debug!(to = self.to, result = ?result.map(|r| r.map(|_| ())), "peer stream ended");
                    return StreamEnd::Broken;
                }
            };
            let Some(first) = first else { return StreamEnd::QueueClosed };
            let mut messages = vec![first];
            while messages.len() < BATCH_MESSAGES_MAX {
                match self.receiver.try_recv() {
                    Ok(message) => messages.push(message),
                    Err(_) => break,
                }
            }
            if let Some(delay) = self.faults.delay_to(self.to) {
                tokio::time::sleep(delay).await;
            }
            let batch = RaftBatch { from_node_id: self.from, to_node_id: self.to, messages };
            if sender.send(batch).await.is_err() || call.is_finished() {
                return StreamEnd::Broken;
            }
        }
    }
}

enum StreamEnd {
    QueueClosed,
    Broken,
}
