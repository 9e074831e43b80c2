use super::*;
use atoll_types::limits::SNAPSHOT_CHUNK_FRAME_BYTES_MAX;

struct Chunks(Vec<Vec<u8>>);

impl SnapshotReader for Chunks {
    fn next_chunk(&mut self, _bytes_max: usize) -> Result<Option<Vec<u8>>, Fatal> {
        Ok(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    }
}

fn must_files() -> (tempfile::TempDir, SnapshotFiles) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = SnapshotFiles::open(dir.path().join("snapshots"), None).expect("snapshot dir");
    (dir, files)
}

#[test]
fn a_finished_file_reads_back_chunk_by_chunk_and_a_part_file_is_never_a_snapshot() {
    let (_dir, files) = must_files();
    let mut writer = files.create().expect("create");
    let id = writer.id();
    writer.write_chunk(b"first").expect("write");
    writer.write_chunk(&[7u8; 3000]).expect("write");
    writer.write_chunk(b"").expect("write");
    assert!(!files.path(id).exists(), "an unfinished snapshot must not have its final name");
    assert_eq!(writer.finish().expect("finish"), id);
    let mut reader = SnapshotFileReader::open(&files.path(id), None).expect("open");
    assert_eq!(reader.next_chunk().expect("chunk"), Some(b"first".to_vec()));
    assert_eq!(reader.next_chunk().expect("chunk"), Some(vec![7u8; 3000]));
    assert_eq!(reader.next_chunk().expect("chunk"), Some(Vec::new()));
    assert_eq!(reader.next_chunk().expect("end"), None);
}

#[test]
fn an_abandoned_stream_leaves_no_file_and_clean_keeps_only_what_is_named() {
    let (dir, files) = must_files();
    let mut abandoned = files.create().expect("create");
    abandoned.write_chunk(b"half").expect("write");
    drop(abandoned);
    let mut kept = files.create().expect("create");
    kept.write_chunk(b"kept").expect("write");
    let kept = files.path(kept.finish().expect("finish"));
    let mut other = files.create().expect("create");
    other.write_chunk(b"other").expect("write");
    let other = files.path(other.finish().expect("finish"));
    std::fs::write(dir.path().join("snapshots").join("crashed.part"), b"x").expect("write");
    files.clean(std::slice::from_ref(&kept));
    let left: Vec<_> =
        std::fs::read_dir(dir.path().join("snapshots")).expect("dir").flatten().map(|e| e.path()).collect();
    assert_eq!(left, vec![kept]);
    assert!(!other.exists());
}

#[test]
fn a_corrupt_or_torn_file_is_fatal_not_data() {
    let (_dir, files) = must_files();
    let mut writer = files.create().expect("create");
    writer.write_chunk(b"some state of a range").expect("write");
    let path = files.path(writer.finish().expect("finish"));
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let mut reader = SnapshotFileReader::open(&path, None).expect("open");
    assert!(reader.next_chunk().is_err(), "a flipped byte must fail the checksum");
    std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("write");
    let mut reader = SnapshotFileReader::open(&path, None).expect("open");
    assert!(reader.next_chunk().is_err(), "a torn frame must be an error");
}

#[test]
fn oversized_chunks_from_a_peer_are_refused() {
    let (_dir, files) = must_files();
    let mut writer = files.create().expect("create");
    assert!(writer.write_chunk(&vec![0u8; SNAPSHOT_CHUNK_FRAME_BYTES_MAX + 1]).is_err());
}

#[test]
fn sends_are_bounded_and_a_dropped_send_reports_failure_and_frees_its_slot() {
    let slots = SnapshotSlots::default();
    let progress = SnapshotProgress::default();
    let (events, reports) = std::sync::mpsc::channel();
    let mut ids = Vec::new();
    while slots.has_room() {
        ids.push(slots.prepare(Box::new(Chunks(vec![b"x".to_vec()]))));
        assert!(ids.len() <= SNAPSHOT_SENDS_MAX, "the slots must be bounded");
    }
    assert_eq!(ids.len(), SNAPSHOT_SENDS_MAX);
    let mut message = Message { to: 3, ..Default::default() };
    message.mut_snapshot().set_data(encode_id(ids[0]).into());
    let sending = outgoing(&slots, &progress, &events, RangeId(1), message.clone()).expect("prepared");
    assert_eq!(slots.sending(), 1);
    assert!(!slots.has_room());
    assert_eq!(progress.list().len(), 1);
    assert!(outgoing(&slots, &progress, &events, RangeId(1), message).is_none(), "a reader is taken once");
    drop(sending);
    assert_eq!(slots.sending(), 0);
    assert!(progress.list().is_empty());
    match reports.try_recv() {
        Ok(SnapshotEvent::Sent { range_id, to, ok, .. }) => assert_eq!((range_id, to, ok), (RangeId(1), 3, false)),
        _ => panic!("a dropped send must report a failure"),
    }
    slots.expire(Instant::now() + PREPARED_TTL);
    assert!(slots.has_room());
}
