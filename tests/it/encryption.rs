//! Encryption at rest on a real node: values written through SQL and etcd are nowhere in the
//! data directory's files, a wrong or missing key stops the node before it changes anything,
//! and the store key rotates.

use crate::security::{as_root, atoll, etcdctl, one_secure_node, text};
use atoll_chaos::local::LocalCluster;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SQL_MARKER: &str = "atoll-sql-marker-5f1c9e";
const ETCD_MARKER: &str = "atoll-etcd-marker-8b27d4";

fn create_key(path: &Path) {
    let made = atoll(&["cert", "create-encryption-key", path.to_str().expect("utf-8")]);
    assert!(made.status.success(), "{}", text(&made));
}

fn key_flags(key: &Path, old: Option<&Path>) -> Vec<String> {
    let mut flags = vec!["--encryption-key-file".to_string(), key.display().to_string()];
    if let Some(old) = old {
        flags.extend(["--old-encryption-key-file".to_string(), old.display().to_string()]);
    }
    flags
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

/// The files of `dir` that hold `marker` as it was written.
fn holding(dir: &Path, marker: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(marker.len()).any(|w| w == marker.as_bytes()))
        .map(|(path, _)| path)
        .collect()
}

/// Writes both markers, through SQL and etcd, on node 1 of `cluster`.
fn write_markers(cluster: &LocalCluster, certs: &Path) {
    let node = &cluster.nodes[0];
    as_root(
        &node.sql,
        certs,
        &format!("CREATE TABLE secrets (id INT PRIMARY KEY, v TEXT); INSERT INTO secrets VALUES (1, '{SQL_MARKER}')"),
    );
    let c = certs.display();
    let root =
        [format!("--cacert={c}/ca.crt"), format!("--cert={c}/client.root.crt"), format!("--key={c}/client.root.key")];
    let put = etcdctl(&node.etcd, &root, &["put", "greeting", ETCD_MARKER]);
    assert!(put.status.success(), "{}", text(&put));
}

/// Restarts node 1 with `flags`; `Err` with its log's end if it stopped instead.
async fn restart_with(cluster: &mut LocalCluster, flags: Vec<String>) -> Result<(), String> {
    cluster.nodes[0].terminate();
    cluster.set_extra_args(flags);
    cluster.restart(0)?;
    cluster
        .wait_for_replicas(1, Duration::from_secs(30))
        .await
        .map_err(|e| format!("{e}\n{}", cluster.nodes[0].log_tail(5)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_sealed_on_disk_and_the_key_is_checked_and_rotates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second, stranger) =
        (dir.path().join("first.key"), dir.path().join("second.key"), dir.path().join("x.key"));
    for key in [&first, &second, &stranger] {
        create_key(key);
    }
    let (mut cluster, certs) =
        one_secure_node(dir.path(), &key_flags(&first, None).iter().map(String::as_str).collect::<Vec<_>>()).await;
    write_markers(&cluster, &certs);
    let data = cluster.nodes[0].data_dir.clone();
    cluster.nodes[0].terminate();
    for marker in [SQL_MARKER, ETCD_MARKER] {
        let found = holding(&data, marker);
        assert!(found.is_empty(), "{marker} is readable in {found:?}");
    }
    assert!(data.join("ENCRYPTION").exists(), "no key registry");

    // A wrong key, no key, and an old key without a new one stop the node and change nothing.
    let before = files(&data);
    for (flags, message) in [
        (key_flags(&stranger, None), "wrong encryption key"),
        (Vec::new(), "is encrypted: start with --encryption-key-file"),
        (key_flags(&stranger, Some(&second)), "neither encryption key opens this store"),
    ] {
        let refused = restart_with(&mut cluster, flags.clone()).await.expect_err("a node started with the wrong key");
        assert!(refused.contains(message), "{flags:?}: {refused}");
        assert!(files(&data) == before, "a refused start ({flags:?}) changed the data directory");
    }

    // The right key reads what was written.
    restart_with(&mut cluster, key_flags(&first, None)).await.expect("the right key opens the store");
    let node = &cluster.nodes[0];
    let read = as_root(&node.sql, &certs, "SELECT v FROM secrets WHERE id = 1");
    assert_eq!(read.trim(), SQL_MARKER);

    // Rotation: started once with the new key and the old one; then only the new key opens it.
    restart_with(&mut cluster, key_flags(&second, Some(&first))).await.expect("rotation");
    let refused = restart_with(&mut cluster, key_flags(&first, None)).await.expect_err("the old key after rotation");
    assert!(refused.contains("wrong encryption key"), "{refused}");
    restart_with(&mut cluster, key_flags(&second, None)).await.expect("the new key");
    let read = as_root(&cluster.nodes[0].sql, &certs, "SELECT v FROM secrets WHERE id = 1");
    assert_eq!(read.trim(), SQL_MARKER, "a value written before the rotation");
}

/// The broken build: `--unsafe-encryption-plaintext` keeps the keys and the registry but stores
/// values as they are; the look at the files above must find the markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stores_plaintext_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("store.key");
    create_key(&key);
    let mut flags = key_flags(&key, None);
    flags.push("--unsafe-encryption-plaintext".into());
    let (mut cluster, certs) = one_secure_node(dir.path(), &flags.iter().map(String::as_str).collect::<Vec<_>>()).await;
    write_markers(&cluster, &certs);
    let data = cluster.nodes[0].data_dir.clone();
    cluster.nodes[0].terminate();
    assert!(!holding(&data, SQL_MARKER).is_empty(), "the broken node's files hide the SQL marker");
    assert!(!holding(&data, ETCD_MARKER).is_empty(), "the broken node's files hide the etcd marker");
}
