//! Unmodified `etcdctl` (Debian's etcd-client) against a 3-node cluster.

use crate::cluster::TestCluster;
use std::process::Command;

fn must_etcdctl(endpoints: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new("etcdctl");
    command.env("ETCDCTL_API", "3").arg(format!("--endpoints={endpoints}")).args(args);
    let output = if let Some(input) = stdin {
        use std::io::Write;
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("etcdctl is not installed: run the tests through .ci/run, which installs it");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("etcdctl")
    } else {
        command.output().expect("etcdctl is not installed: run the tests through .ci/run, which installs it")
    };
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn must_ok(endpoints: &str, args: &[&str]) -> String {
    let (ok, out, err) = must_etcdctl(endpoints, args, None);
    assert!(ok, "etcdctl {args:?} failed: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_works_against_a_three_node_cluster() {
    let cluster = TestCluster::must_start(3).await;
    let all = cluster.etcd_endpoints();
    let third = cluster.nodes[2].etcd.clone();

    assert_eq!(must_ok(&all, &["put", "greeting", "hello"]).trim(), "OK");
    // A follower answers a linearizable read with the write just made through another node.
    assert_eq!(must_ok(&third, &["get", "greeting", "--print-value-only"]).trim(), "hello");
    must_ok(&all, &["put", "fruit/apple", "1"]);
    must_ok(&all, &["put", "fruit/banana", "2"]);
    assert_eq!(
        must_ok(&third, &["get", "fruit/", "--prefix", "--keys-only"]).split_whitespace().collect::<Vec<_>>(),
        ["fruit/apple", "fruit/banana"]
    );

    let txn = "value(\"greeting\") = \"hello\"\n\nput greeting goodbye\n\nput greeting never\n\n";
    let (ok, out, err) = must_etcdctl(&all, &["txn"], Some(txn));
    assert!(ok, "txn failed: {err}");
    assert!(out.starts_with("SUCCESS"), "txn took the failure branch: {out}");
    assert_eq!(must_ok(&all, &["get", "greeting", "--print-value-only"]).trim(), "goodbye");
    // The old value is still readable at its revision (2: the first put after bootstrap).
    assert_eq!(must_ok(&all, &["get", "greeting", "--rev=2", "--print-value-only"]).trim(), "hello");

    assert_eq!(must_ok(&all, &["del", "fruit/", "--prefix"]).trim(), "2");
    assert_eq!(must_ok(&all, &["get", "fruit/", "--prefix"]).trim(), "");

    let members = must_ok(&all, &["member", "list"]);
    for node in &cluster.nodes {
        assert!(members.contains(&node.etcd), "member list lacks {}: {members}", node.etcd);
    }
    let status = must_ok(&all, &["endpoint", "status"]);
    assert_eq!(status.lines().filter(|l| l.contains("true")).count(), 1, "exactly one leader: {status}");

    // Errors carry etcd's messages.
    must_ok(&all, &["compact", "4"]);
    let (ok, _, err) = must_etcdctl(&all, &["get", "greeting", "--rev=2"], None);
    assert!(!ok && err.contains("required revision has been compacted"), "{err}");
    let (ok, _, err) = must_etcdctl(&all, &["get", "greeting", "--rev=1000"], None);
    assert!(!ok && err.contains("future revision"), "{err}");
    let (ok, _, err) = must_etcdctl(&all, &["put", "", "x"], None);
    assert!(!ok && err.contains("key is not provided"), "{err}");
    let big = "x".repeat(2 * 1024 * 1024);
    let (ok, _, err) = must_etcdctl(&all, &["put", "big"], Some(&big));
    assert!(!ok && (err.contains("too large") || err.contains("larger than max")), "{err}");
    let (ok, _, err) = must_etcdctl(&all, &["lease", "grant", "10"], None);
    assert!(!ok && err.contains("not supported by Atoll yet"), "{err}");
}

/// etcd clients see and touch only etcd keys: SQL's rows (keys from 0xff on) are neither
/// listed by `get '' --from-key` nor deleted by `del '' --from-key`, and a put or a compare
/// on such a key is refused (issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_clients_cannot_see_or_touch_sql_rows() {
    use std::os::unix::ffi::OsStrExt;
    let cluster = TestCluster::must_start(1).await;
    let etcd = cluster.nodes[0].etcd.clone();
    let sql = crate::sql::must_connect(&cluster.nodes[0].sql, "postgres").await;
    sql.batch_execute("CREATE TABLE secret (id INT PRIMARY KEY, v TEXT); INSERT INTO secret VALUES (1, 'x'), (2, 'y')")
        .await
        .expect("sql setup");
    must_ok(&etcd, &["put", "a", "1"]);
    must_ok(&etcd, &["put", "z", "2"]);
    let keys = must_ok(&etcd, &["get", "", "--from-key", "--keys-only"]);
    assert_eq!(keys.split_whitespace().collect::<Vec<_>>(), ["a", "z"], "{keys:?}");
    let raw = |args: &[&[u8]]| {
        let output = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={etcd}"))
            .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
            .output()
            .expect("etcdctl");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, _) = raw(&[b"get", b"\xff", b"--prefix", b"--keys-only"]);
    assert!(ok && out.trim().is_empty(), "SQL keys listed: {out:?}");
    let (ok, _, err) = raw(&[b"put", b"\xffcdb", b"overwritten"]);
    assert!(!ok && err.contains("reserved"), "a put on a SQL key: {err}");
    let (ok, out, _) = raw(&[b"del", b"\xff", b"--prefix"]);
    assert!(ok && out.trim() == "0", "a delete reached SQL keys: {out:?}");
    assert_eq!(must_ok(&etcd, &["del", "", "--from-key"]).trim(), "2");
    let rows = sql.query("SELECT v FROM secret ORDER BY id", &[]).await.expect("SQL still reads its rows");
    assert_eq!(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["x", "y"]);
}
