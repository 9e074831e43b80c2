//! The applied state of a range, as stored in the `RangeState` keyspace.
//!
//! Keys are `range_id (8 bytes BE) ++ name`. They are written in the same batch as the MVCC
//! writes of the command that changed them, so after a crash the applied index, the revision
//! and the data always agree, and replay resumes from the entry after `applied`.

use crate::{Error, Result};
use atoll_proto::atoll::{NodeInfo, RangeDescriptor};
use atoll_proto::Message;
use atoll_storage::{Engine, Keyspace, WriteBatch};
use atoll_types::RangeId;

const APPLIED: &[u8] = b"/applied";
const REVISION: &[u8] = b"/revision";
const COMPACT: &[u8] = b"/compact";
const DESCRIPTOR: &[u8] = b"/descriptor";
const NEXT_NODE_ID: &[u8] = b"/next_node_id";
const NEXT_RANGE_ID: &[u8] = b"/next_range_id";
const MEMBER: &[u8] = b"/member/";
const RESTORING: &[u8] = b"/restoring";

/// The prefix of every state key of `range_id`.
pub fn prefix(range_id: RangeId) -> Vec<u8> {
    range_id.0.to_be_bytes().to_vec()
}

fn key(range_id: RangeId, name: &[u8]) -> Vec<u8> {
    [prefix(range_id).as_slice(), name].concat()
}

/// The key of the marker of a snapshot being installed (see `crate::snapshot`).
pub fn restore_marker_key(range_id: RangeId) -> Vec<u8> {
    key(range_id, RESTORING)
}

/// The key of a range's descriptor (the install of a snapshot reads it first, see
/// `crate::snapshot`).
pub fn descriptor_key(range_id: RangeId) -> Vec<u8> {
    key(range_id, DESCRIPTOR)
}

fn member_key(range_id: RangeId, node_id: u64) -> Vec<u8> {
    [key(range_id, MEMBER).as_slice(), &node_id.to_be_bytes()].concat()
}

fn read_u64(engine: &dyn Engine, range_id: RangeId, name: &[u8]) -> Result<Option<u64>> {
    match engine.get(Keyspace::RangeState, &key(range_id, name))? {
        None => Ok(None),
        Some(bytes) => {
            let array: [u8; 8] =
                bytes.as_slice().try_into().map_err(|_| Error::Corrupt(format!("range state {name:?}")))?;
            Ok(Some(u64::from_be_bytes(array)))
        }
    }
}

fn write_u64(batch: &mut WriteBatch, range_id: RangeId, name: &[u8], value: u64) {
    batch.put(Keyspace::RangeState, key(range_id, name), value.to_be_bytes().to_vec());
}

/// Everything the state machine keeps about a range besides its MVCC data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppliedState {
    pub applied_index: u64,
    pub revision: i64,
    pub compact_revision: i64,
    pub next_node_id: u64,
    /// The next range id to hand out (kept by the first range, see `crate::split`).
    pub next_range_id: u64,
    pub descriptor: RangeDescriptor,
}

impl AppliedState {
    /// Loads the state of `range_id`, or `None` if the range has no state on this node.
    pub fn load(engine: &dyn Engine, range_id: RangeId) -> Result<Option<AppliedState>> {
        let Some(descriptor) = engine.get(Keyspace::RangeState, &key(range_id, DESCRIPTOR))? else {
            return Ok(None);
        };
        let descriptor = RangeDescriptor::decode(descriptor.as_slice()).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Some(AppliedState {
            applied_index: read_u64(engine, range_id, APPLIED)?.unwrap_or(0),
            revision: read_u64(engine, range_id, REVISION)?.unwrap_or(1) as i64,
            compact_revision: read_u64(engine, range_id, COMPACT)?.unwrap_or(0) as i64,
            next_node_id: read_u64(engine, range_id, NEXT_NODE_ID)?.unwrap_or(2),
            next_range_id: read_u64(engine, range_id, NEXT_RANGE_ID)?.unwrap_or(2),
            descriptor,
        }))
    }

    /// Adds every field to `batch`.
    pub fn save(&self, batch: &mut WriteBatch) {
        let range_id = RangeId(self.descriptor.range_id);
        write_u64(batch, range_id, APPLIED, self.applied_index);
        write_u64(batch, range_id, REVISION, self.revision as u64);
        write_u64(batch, range_id, COMPACT, self.compact_revision as u64);
        write_u64(batch, range_id, NEXT_NODE_ID, self.next_node_id);
        write_u64(batch, range_id, NEXT_RANGE_ID, self.next_range_id);
        batch.put(Keyspace::RangeState, key(range_id, DESCRIPTOR), self.descriptor.encode_to_vec());
    }
}

/// Loads the membership table kept by `range_id`.
pub fn load_members(engine: &dyn Engine, range_id: RangeId) -> Result<Vec<NodeInfo>> {
    let prefix = key(range_id, MEMBER);
    atoll_storage::scan_prefix(engine, Keyspace::RangeState, &prefix)
        .map(|item| {
            let (_, value) = item?;
            NodeInfo::decode(value.as_slice()).map_err(|e| Error::Corrupt(e.to_string()))
        })
        .collect()
}

/// Adds the record of one member to `batch`.
pub fn save_member(batch: &mut WriteBatch, range_id: RangeId, node: &NodeInfo) {
    batch.put(Keyspace::RangeState, member_key(range_id, node.node_id), node.encode_to_vec());
}
