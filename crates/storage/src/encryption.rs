//! Encryption at rest: every value a node stores, and every received snapshot file, sealed with
//! AES-256-GCM (ring).
//!
//! # Keys
//! The operator holds the *store key* (`--encryption-key-file`: 32 bytes, raw or as 64 hex
//! digits; `atoll cert create-encryption-key` makes one). It never encrypts data itself: it
//! wraps the *data keys*, which are kept in the registry file `ENCRYPTION` of the data
//! directory. Each start of the node makes a new data key and seals every value it writes with
//! it; older data keys stay in the registry for the values sealed with them. Rotating the store
//! key (start once with the new key in `--encryption-key-file` and the old one in
//! `--old-encryption-key-file`) re-wraps the data keys; no data is rewritten, and a cluster
//! rotates node by node without downtime.
//!
//! # Checks before anything is written
//! [`prepare`] reads the registry and unwraps every data key before the store is opened: a wrong
//! key, a missing key for an encrypted store, or a key for a store that was created without
//! encryption stop the node with an error that says which, and leave every file as it was.
//! The registry is rewritten (new data key, new wrapping) only by [`Prepared::open`], after the
//! engine holds the data directory's lock, through a temporary file, fsync and rename.
//!
//! # Sealed values
//! `0xA5 (or 0xA6: compressed), data key id (4 bytes BE), counter (8 bytes BE), ciphertext, tag
//! (16 bytes)`. A value that lz4 shrinks is compressed before it is sealed (0xA6), since the
//! engine's own block compression finds nothing to compress in ciphertext. The nonce
//! is the key id and the counter: a data key is used by one process only and its counter only
//! grows, so no nonce repeats under a key. The additional data is the keyspace and the key, so
//! a value copied onto another key does not open. A value that does not open is corruption.
//!
//! # What stays in the clear
//! Keys: fjall orders them, so they are stored as they are. etcd key names and the encoded
//! primary-key and index columns of SQL rows are readable in the data files; values (row
//! columns, etcd values, Raft log entries, which carry both keys and values of writes) are not.
//! Logs and the audit log are not encrypted either.

use crate::{Engine, EngineSnapshot, Error, Keyspace, Result, ScanIter, WriteBatch};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of a store key and of a data key (AES-256).
pub const KEY_BYTES: usize = 32;
/// The registry's file name in the data directory.
pub const REGISTRY_FILE: &str = "ENCRYPTION";
/// A file fjall writes when it creates a store: its presence means a store exists.
const STORE_MARKER_FILE: &str = "version";
/// First byte of a sealed value.
const SEALED_TAG: u8 = 0xA5;
/// First byte of a sealed value that was compressed (lz4, size prepended) before sealing.
const SEALED_COMPRESSED_TAG: u8 = 0xA6;
/// Values shorter than this are sealed as they are (lz4 gains nothing on them).
const COMPRESS_BYTES_MIN: usize = 64;
/// Largest value a sealed compressed value may claim to expand to.
const EXPANDED_BYTES_MAX: usize = 1 << 30;
const HEADER_BYTES: usize = 1 + 4 + 8;
const TAG_BYTES: usize = 16;
/// Bytes sealing adds to a value.
pub const SEAL_OVERHEAD_BYTES: usize = HEADER_BYTES + TAG_BYTES;
/// Most data keys a registry holds (one per start of the node); past it the node refuses to
/// start until the store is rebuilt from its peers.
pub const DATA_KEYS_MAX: usize = 100_000;
const REGISTRY_VERSION: u32 = 1;

/// Why encryption could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("encryption key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("encryption registry {path}: {reason}")]
    Registry { path: PathBuf, reason: String },
}

/// The operator's key, read from its file.
pub struct StoreKey {
    bytes: [u8; KEY_BYTES],
    path: PathBuf,
}

impl StoreKey {
    /// Reads a key file: 32 bytes, or 64 hex digits (a final newline allowed).
    pub fn read(path: &Path) -> std::result::Result<StoreKey, EncryptionError> {
        let fail = |reason: String| EncryptionError::KeyFile { path: path.to_path_buf(), reason };
        let content = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let bytes: Vec<u8> = if content.len() == KEY_BYTES {
            content
        } else {
            std::str::from_utf8(&content)
                .ok()
                .and_then(|text| unhex(text.trim()))
                .filter(|bytes| bytes.len() == KEY_BYTES)
                .ok_or_else(|| fail(Self::format_error()))?
        };
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(&bytes);
        Ok(StoreKey { bytes: key, path: path.to_path_buf() })
    }

    fn format_error() -> String {
        format!(
            "a key is {KEY_BYTES} bytes, or {} hex digits (make one with `atoll cert create-encryption-key`)",
            2 * KEY_BYTES
        )
    }

    /// Writes a new random key to `path` (mode 0600), as 64 hex digits; refuses to overwrite.
    pub fn create(path: &Path) -> std::result::Result<(), EncryptionError> {
        use std::io::Write as _;
        let fail = |reason: String| EncryptionError::KeyFile { path: path.to_path_buf(), reason };
        let key = random_key().map_err(|e| fail(e.to_string()))?;
        let text = hex(&key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| fail(format!("cannot create it: {e}")))?;
        file.write_all(format!("{text}\n").as_bytes()).and_then(|_| file.sync_all()).map_err(|e| fail(e.to_string()))
    }

    /// A short public name of the key (the start of its SHA-256), which the registry records
    /// so that a wrong key is told apart from a corrupt registry.
    pub fn id(&self) -> String {
        hex(&ring::digest::digest(&ring::digest::SHA256, &self.bytes).as_ref()[..8])
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("a 32-byte AES-256 key"))
    }
}

fn random_key() -> std::result::Result<[u8; KEY_BYTES], ring::error::Unspecified> {
    use ring::rand::SecureRandom as _;
    let mut key = [0u8; KEY_BYTES];
    ring::rand::SystemRandom::new().fill(&mut key)?;
    Ok(key)
}

/// One data key as the registry keeps it: wrapped by the store key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WrappedKey {
    id: u32,
    created_unix_secs: u64,
    /// Nonce (12 bytes) then the sealed key and its tag, as hex.
    wrapped: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Registry {
    version: u32,
    store_key_id: String,
    data_keys: Vec<WrappedKey>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len() / 2).map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn wrap_aad(id: u32) -> Vec<u8> {
    [b"atoll data key ".as_slice(), &id.to_be_bytes()].concat()
}

fn wrap(store: &StoreKey, id: u32, key: &[u8; KEY_BYTES]) -> std::result::Result<String, ring::error::Unspecified> {
    use ring::rand::SecureRandom as _;
    let mut nonce = [0u8; 12];
    ring::rand::SystemRandom::new().fill(&mut nonce)?;
    let mut sealed = key.to_vec();
    store.aead().seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(id)), &mut sealed)?;
    Ok(hex(&[nonce.as_slice(), &sealed].concat()))
}

fn unwrap(store: &StoreKey, wrapped: &WrappedKey) -> Option<[u8; KEY_BYTES]> {
    let bytes = unhex(&wrapped.wrapped)?;
    if bytes.len() != 12 + KEY_BYTES + TAG_BYTES {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&bytes[..12]).ok()?;
    let mut sealed = bytes[12..].to_vec();
    let key = store.aead().open_in_place(nonce, Aad::from(wrap_aad(wrapped.id)), &mut sealed).ok()?;
    key.try_into().ok()
}

fn read_registry(path: &Path) -> std::result::Result<Option<Registry>, EncryptionError> {
    let fail = |reason: String| EncryptionError::Registry { path: path.to_path_buf(), reason };
    match std::fs::read(path) {
        Ok(bytes) => {
            let registry: Registry = serde_json::from_slice(&bytes).map_err(|e| fail(format!("corrupt: {e}")))?;
            if registry.version != REGISTRY_VERSION {
                return Err(fail(format!("version {} is not one this build reads", registry.version)));
            }
            Ok(Some(registry))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(format!("cannot read it: {e}"))),
    }
}

fn write_registry(path: &Path, registry: &Registry) -> std::result::Result<(), EncryptionError> {
    use std::io::Write as _;
    let fail = |reason: String| EncryptionError::Registry { path: path.to_path_buf(), reason };
    let temporary = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(registry).map_err(|e| fail(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| fail(format!("cannot write it: {e}")))
}

/// What [`prepare`] found: encryption checked and ready to start once the store is open.
pub struct Prepared {
    path: PathBuf,
    store_key: StoreKey,
    registry: Registry,
    keys: HashMap<u32, [u8; KEY_BYTES]>,
}

/// Checks the data directory's encryption against the keys given, changing nothing on disk.
/// `Ok(None)`: the store is not encrypted and no key was given.
pub fn prepare(
    data_dir: &Path,
    store_key: Option<StoreKey>,
    old_key: Option<StoreKey>,
) -> std::result::Result<Option<Prepared>, EncryptionError> {
    let path = data_dir.join(REGISTRY_FILE);
    let registry = read_registry(&path)?;
    let store_exists = data_dir.join(STORE_MARKER_FILE).exists();
    let refuse = |message: String| Err(EncryptionError::Refused(message));
    let (store_key, registry) = match (store_key, registry) {
        (None, None) => {
            if old_key.is_some() {
                return refuse("--old-encryption-key-file needs --encryption-key-file (the new key)".into());
            }
            return Ok(None);
        }
        (None, Some(_)) => {
            return refuse(format!(
                "the data directory {} is encrypted: start with --encryption-key-file (its registry is {})",
                data_dir.display(),
                path.display()
            ))
        }
        (Some(key), None) if store_exists => {
            return refuse(format!(
                "the data directory {} holds a store made without encryption; encryption is chosen when a node's \
                 store is created (start this node without --encryption-key-file, or give it an empty data directory \
                 to fill from its peers); key {} was not used",
                data_dir.display(),
                key.path.display()
            ))
        }
        (Some(key), None) => {
            if old_key.is_some() {
                return refuse("--old-encryption-key-file given for a store that is not encrypted yet".into());
            }
            let registry = Registry { version: REGISTRY_VERSION, store_key_id: key.id(), data_keys: Vec::new() };
            (key, registry)
        }
        (Some(key), Some(registry)) => (key, registry),
    };
    // The key that wraps the data keys now: the given one, or the old one during a rotation.
    let wrapping = if registry.store_key_id == store_key.id() {
        &store_key
    } else {
        match &old_key {
            Some(old) if registry.store_key_id == old.id() => old,
            Some(old) => {
                return refuse(format!(
                    "neither encryption key opens this store: it was encrypted with key {}, {} is key {} and {} is key \
                     {}; nothing was changed",
                    registry.store_key_id,
                    store_key.path.display(),
                    store_key.id(),
                    old.path.display(),
                    old.id()
                ))
            }
            None => {
                return refuse(format!(
                    "wrong encryption key: this store was encrypted with key {}, and {} is key {}; nothing was changed \
                     (to rotate keys, give the old one with --old-encryption-key-file)",
                    registry.store_key_id,
                    store_key.path.display(),
                    store_key.id()
                ))
            }
        }
    };
    let mut keys = HashMap::with_capacity(registry.data_keys.len() + 1);
    for wrapped in &registry.data_keys {
        let key = unwrap(wrapping, wrapped).ok_or_else(|| EncryptionError::Registry {
            path: path.clone(),
            reason: format!(
                "data key {} does not open with key {}: the registry is corrupt",
                wrapped.id,
                wrapping.id()
            ),
        })?;
        if keys.insert(wrapped.id, key).is_some() {
            return Err(EncryptionError::Registry { path, reason: format!("data key {} appears twice", wrapped.id) });
        }
    }
    if keys.len() >= DATA_KEYS_MAX {
        return refuse(format!(
            "the encryption registry {} holds {DATA_KEYS_MAX} data keys (one per start), the most it may",
            path.display()
        ));
    }
    Ok(Some(Prepared { path, store_key, registry, keys }))
}

impl Prepared {
    /// Records a new data key for this run (and the store key's new wrapping, when rotating)
    /// in the registry, durably, and returns the cipher that seals with it. Call it once the
    /// engine holds the data directory.
    pub fn open(self) -> std::result::Result<Arc<Cipher>, EncryptionError> {
        let Prepared { path, store_key, mut registry, mut keys } = self;
        let fail = |reason: String| EncryptionError::Registry { path: path.clone(), reason };
        let id = keys.keys().max().map_or(1, |max| max + 1);
        let key = random_key().map_err(|e| fail(e.to_string()))?;
        keys.insert(id, key);
        let created_unix_secs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut data_keys = Vec::with_capacity(keys.len());
        let mut ids: Vec<u32> = keys.keys().copied().collect();
        ids.sort_unstable();
        for key_id in ids {
            let created =
                registry.data_keys.iter().find(|k| k.id == key_id).map_or(created_unix_secs, |k| k.created_unix_secs);
            let wrapped = wrap(&store_key, key_id, &keys[&key_id]).map_err(|e| fail(e.to_string()))?;
            data_keys.push(WrappedKey { id: key_id, created_unix_secs: created, wrapped });
        }
        registry.store_key_id = store_key.id();
        registry.data_keys = data_keys;
        write_registry(&path, &registry)?;
        let aeads = keys
            .into_iter()
            .map(|(id, key)| (id, LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key"))))
            .collect();
        Ok(Arc::new(Cipher { keys: aeads, active: id, counter: AtomicU64::new(0), store_key_id: store_key.id() }))
    }
}

/// Seals and opens values with the node's data keys.
pub struct Cipher {
    keys: HashMap<u32, LessSafeKey>,
    /// The data key of this run.
    active: u32,
    /// Values sealed with it so far (the nonce's second part).
    counter: AtomicU64,
    store_key_id: String,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher(store key {}, data key {} of {})", self.store_key_id, self.active, self.keys.len())
    }
}

impl Cipher {
    /// The store key's id (see [`StoreKey::id`]).
    pub fn store_key_id(&self) -> &str {
        &self.store_key_id
    }

    /// The data key this run seals with.
    pub fn active_data_key(&self) -> u32 {
        self.active
    }

    /// `plaintext` sealed, bound to `context` (which must be given again to open it); compressed
    /// first when that makes it shorter.
    pub fn seal(&self, context: &[&[u8]], plaintext: &[u8]) -> Vec<u8> {
        let compressed = (plaintext.len() >= COMPRESS_BYTES_MIN)
            .then(|| lz4_flex::block::compress_prepend_size(plaintext))
            .filter(|c| c.len() < plaintext.len());
        let (tag, plaintext) = match &compressed {
            Some(compressed) => (SEALED_COMPRESSED_TAG, compressed.as_slice()),
            None => (SEALED_TAG, plaintext),
        };
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        assert!(counter < u64::MAX, "nonce counter exhausted");
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD_BYTES);
        out.push(tag);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.extend_from_slice(&counter.to_be_bytes());
        let nonce: [u8; 12] = out[1..HEADER_BYTES].try_into().expect("12 bytes");
        out.extend_from_slice(plaintext);
        let aad = context.concat();
        let mut body = out.split_off(HEADER_BYTES);
        let key = self.keys.get(&self.active).expect("the active data key is in the map");
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
            .expect("AES-GCM seals any input under 64 GiB");
        out.append(&mut body);
        out
    }

    /// Opens what [`Cipher::seal`] sealed with the same `context`; `Err(Corrupt)` for anything
    /// else (tampered, moved to another key, not sealed, an unknown data key).
    pub fn open(&self, context: &[&[u8]], sealed: &[u8]) -> Result<Vec<u8>> {
        let corrupt = |why: &str| Error::Corrupt(format!("encrypted value {why}"));
        if sealed.len() < SEAL_OVERHEAD_BYTES || !(sealed[0] == SEALED_TAG || sealed[0] == SEALED_COMPRESSED_TAG) {
            return Err(corrupt("is not sealed (a plaintext value in an encrypted store)"));
        }
        let id = u32::from_be_bytes(sealed[1..5].try_into().expect("4 bytes"));
        let key =
            self.keys.get(&id).ok_or_else(|| corrupt(&format!("names data key {id}, which the registry lacks")))?;
        let nonce =
            Nonce::try_assume_unique_for_key(&sealed[1..HEADER_BYTES]).map_err(|_| corrupt("has a bad nonce"))?;
        let mut body = sealed[HEADER_BYTES..].to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.concat()), &mut body)
            .map_err(|_| corrupt("does not open (changed on disk, or not this key's)"))?;
        let length = plain.len();
        body.truncate(length);
        if sealed[0] == SEALED_TAG {
            return Ok(body);
        }
        // Authenticated, so written by this store; the size is checked all the same.
        let claimed = body.get(..4).map_or(usize::MAX, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
        if claimed > EXPANDED_BYTES_MAX {
            return Err(corrupt(&format!("claims to expand to {claimed} bytes")));
        }
        lz4_flex::block::decompress_size_prepended(&body).map_err(|e| corrupt(&format!("does not decompress: {e}")))
    }

    fn value_context(keyspace: Keyspace, key: &[u8]) -> [Vec<u8>; 2] {
        [vec![keyspace as u8], key.to_vec()]
    }
}

/// An [`Engine`] that seals every value before the engine beneath stores it and opens it on
/// the way back. Keys pass as they are (see the module comment).
pub struct EncryptedEngine<E: Engine> {
    inner: E,
    cipher: Arc<Cipher>,
}

impl<E: Engine> EncryptedEngine<E> {
    pub fn new(inner: E, cipher: Arc<Cipher>) -> Self {
        EncryptedEngine { inner, cipher }
    }
}

fn open_value(cipher: &Cipher, keyspace: Keyspace, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
    let [space, key_bytes] = Cipher::value_context(keyspace, key);
    cipher.open(&[&space, &key_bytes], value)
}

fn open_scan<'a>(cipher: &'a Cipher, keyspace: Keyspace, iter: ScanIter<'a>) -> ScanIter<'a> {
    Box::new(iter.map(move |item| {
        let (key, value) = item?;
        let value = open_value(cipher, keyspace, &key, &value)?;
        Ok((key, value))
    }))
}

impl<E: Engine> Engine for EncryptedEngine<E> {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.inner.get(keyspace, key)? {
            Some(value) => open_value(&self.cipher, keyspace, key, &value).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> ScanIter<'_> {
        open_scan(&self.cipher, keyspace, self.inner.scan(keyspace, start, end, reverse))
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let mut sealed = WriteBatch::with_capacity(batch.len());
        for op in batch.ops {
            match op.value {
                Some(value) => {
                    let [space, key] = Cipher::value_context(op.keyspace, &op.key);
                    let value = self.cipher.seal(&[&space, &key], &value);
                    sealed.put(op.keyspace, op.key, value);
                }
                None => sealed.delete(op.keyspace, op.key),
            }
        }
        self.inner.write(sealed, sync)
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn snapshot(&self) -> Box<dyn EngineSnapshot> {
        Box::new(EncryptedSnapshot { inner: self.inner.snapshot(), cipher: self.cipher.clone() })
    }

    fn cipher(&self) -> Option<Arc<Cipher>> {
        Some(self.cipher.clone())
    }
}

struct EncryptedSnapshot {
    inner: Box<dyn EngineSnapshot>,
    cipher: Arc<Cipher>,
}

impl EngineSnapshot for EncryptedSnapshot {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.inner.get(keyspace, key)? {
            Some(value) => open_value(&self.cipher, keyspace, key, &value).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> ScanIter<'_> {
        open_scan(&self.cipher, keyspace, self.inner.scan(keyspace, start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryEngine;

    fn key_file(dir: &Path, name: &str) -> StoreKey {
        let path = dir.join(name);
        StoreKey::create(&path).expect("create key");
        StoreKey::read(&path).expect("read key")
    }

    /// Every file under `dir` with its bytes, to show that a refusal changed nothing.
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push((path.clone(), std::fs::read(&path).expect("read")));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn values_are_sealed_bound_to_their_key_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = key_file(dir.path(), "store.key");
        let cipher = prepare(dir.path(), Some(key), None).expect("prepare").expect("encrypted").open().expect("open");
        let engine = EncryptedEngine::new(MemoryEngine::new(), cipher.clone());
        let mut batch = WriteBatch::new();
        batch.put(Keyspace::Mvcc, b"k1".to_vec(), b"marker-value-1".to_vec());
        batch.put(Keyspace::Mvcc, b"k2".to_vec(), b"".to_vec());
        engine.write(batch, true).expect("write");
        assert_eq!(engine.get(Keyspace::Mvcc, b"k1").expect("get"), Some(b"marker-value-1".to_vec()));
        assert_eq!(engine.get(Keyspace::Mvcc, b"k2").expect("get"), Some(Vec::new()));
        let scanned: Vec<_> =
            engine.scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, true).map(|r| r.expect("scan")).collect();
        assert_eq!(scanned, [(b"k2".to_vec(), Vec::new()), (b"k1".to_vec(), b"marker-value-1".to_vec())]);
        let snapshot = engine.snapshot();
        assert_eq!(snapshot.get(Keyspace::Mvcc, b"k1").expect("get"), Some(b"marker-value-1".to_vec()));

        // What the engine beneath holds is sealed, and bound to its key and keyspace.
        let raw = Engine::get(&engine.inner, Keyspace::Mvcc, b"k1").expect("get").expect("stored");
        assert!(!raw.windows(6).any(|w| w == b"marker"), "plaintext stored");
        assert_eq!(raw.len(), b"marker-value-1".len() + SEAL_OVERHEAD_BYTES);
        let mut moved = WriteBatch::new();
        moved.put(Keyspace::Mvcc, b"k3".to_vec(), raw.clone());
        moved.put(Keyspace::MvccLatest, b"k1".to_vec(), raw.clone());
        let mut flipped = raw.clone();
        *flipped.last_mut().expect("tag") ^= 1;
        moved.put(Keyspace::Mvcc, b"k4".to_vec(), flipped);
        moved.put(Keyspace::Mvcc, b"k5".to_vec(), b"plain".to_vec());
        engine.inner.write(moved, false).expect("write raw");
        for (keyspace, key) in [
            (Keyspace::Mvcc, &b"k3"[..]),
            (Keyspace::MvccLatest, b"k1"),
            (Keyspace::Mvcc, b"k4"),
            (Keyspace::Mvcc, b"k5"),
        ] {
            assert!(matches!(engine.get(keyspace, key), Err(Error::Corrupt(_))), "{keyspace:?} {key:?} opened");
        }
        // Two seals of one value differ (the counter is in the nonce).
        assert_ne!(cipher.seal(&[b"c"], b"same"), cipher.seal(&[b"c"], b"same"));
        // A value that compresses is stored compressed, and reads back whole.
        let blank = [b"row-7|".as_slice(), &[b' '; 300]].concat();
        let sealed = cipher.seal(&[b"c"], &blank);
        assert_eq!(sealed[0], SEALED_COMPRESSED_TAG);
        assert!(sealed.len() < 100, "{} bytes sealed", sealed.len());
        assert_eq!(cipher.open(&[b"c"], &sealed).expect("opens"), blank);
    }

    #[test]
    fn a_wrong_or_missing_key_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        let right = key_file(dir.path(), "right.key");
        let right_id = right.id();
        let first = prepare(&data, Some(right), None).expect("prepare").expect("encrypted").open().expect("open");
        let sealed = first.seal(&[b"x"], b"secret");
        let before = files(&data);

        let wrong = key_file(dir.path(), "wrong.key");
        let refused = prepare(&data, Some(wrong), None).err().expect("a wrong key is refused").to_string();
        assert!(refused.contains("wrong encryption key") && refused.contains(&right_id), "{refused}");
        let refused = prepare(&data, None, None).err().expect("no key is refused").to_string();
        assert!(refused.contains("is encrypted: start with --encryption-key-file"), "{refused}");
        assert_eq!(files(&data), before, "a refused start changed the data directory");

        // The right key again: a second data key, and the first one's values still open.
        let right = StoreKey::read(&dir.path().join("right.key")).expect("read");
        let second = prepare(&data, Some(right), None).expect("prepare").expect("encrypted").open().expect("open");
        assert_eq!(second.active_data_key(), first.active_data_key() + 1);
        assert_eq!(second.open(&[b"x"], &sealed).expect("opens"), b"secret");
        assert!(second.open(&[b"y"], &sealed).is_err(), "opened with another context");
    }

    #[test]
    fn the_store_key_rotates_and_the_old_one_then_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = key_file(dir.path(), "old.key");
        let first = prepare(dir.path(), Some(old), None).expect("prepare").expect("encrypted").open().expect("open");
        let sealed = first.seal(&[b"x"], b"kept across rotation");
        let new = key_file(dir.path(), "new.key");
        let old = StoreKey::read(&dir.path().join("old.key")).expect("read");
        let rotated =
            prepare(dir.path(), Some(new), Some(old)).expect("rotate").expect("encrypted").open().expect("open");
        assert_eq!(rotated.open(&[b"x"], &sealed).expect("opens"), b"kept across rotation");
        let old = StoreKey::read(&dir.path().join("old.key")).expect("read");
        assert!(prepare(dir.path(), Some(old), None).is_err(), "the old key still opens the store");
        let new = StoreKey::read(&dir.path().join("new.key")).expect("read");
        assert!(prepare(dir.path(), Some(new), None).expect("the new key opens it").is_some());
    }

    #[test]
    fn a_plain_store_is_not_encrypted_behind_its_back_and_key_files_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(STORE_MARKER_FILE), b"3").expect("marker");
        let key = key_file(dir.path(), "k");
        let refused = prepare(dir.path(), Some(key), None).err().expect("refused").to_string();
        assert!(refused.contains("made without encryption"), "{refused}");
        assert!(!dir.path().join(REGISTRY_FILE).exists());
        assert!(prepare(dir.path(), None, None).expect("plain").is_none());

        for (content, what) in [(&b"short"[..], "short"), (&[b'z'; 64][..], "not hex")] {
            let path = dir.path().join(what);
            std::fs::write(&path, content).expect("write");
            let error = StoreKey::read(&path).err().expect("refused").to_string();
            assert!(error.contains("64 hex digits"), "{what}: {error}");
        }
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [7u8; KEY_BYTES]).expect("write");
        assert_eq!(StoreKey::read(&raw).expect("32 raw bytes").bytes, [7u8; KEY_BYTES]);
        assert!(StoreKey::create(&dir.path().join("k")).is_err(), "a key file was overwritten");
    }
}
