//! A secure cluster (`atoll start --certs-dir`), with certificates made by `atoll cert`, against
//! real clients: psql, etcdctl, the admin commands, and peers with and without the cluster's
//! certificates.

use atoll_chaos::local::LocalCluster;
use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{JoinRequest, NodeInfo};
use atoll_security::ClientCerts;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn atoll(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atoll")).args(args).output().expect("run atoll")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A CA, a node certificate for 127.0.0.1 and `root`'s client certificate, made with the CLI.
fn create_certs(certs: &Path, ca_key: &Path) {
    let (certs, ca_key) = (certs.to_str().expect("utf-8"), ca_key.to_str().expect("utf-8"));
    for args in [
        vec!["cert", "create-ca", "--certs-dir", certs, "--ca-key", ca_key],
        vec!["cert", "create-node", "--certs-dir", certs, "--ca-key", ca_key, "127.0.0.1", "localhost"],
        vec!["cert", "create-client", "--certs-dir", certs, "--ca-key", ca_key, "root"],
    ] {
        let output = atoll(&args);
        assert!(output.status.success(), "atoll {args:?}: {}", text(&output));
    }
}

fn psql(url: &str, sql: &str) -> Output {
    psql_with_password(url, None, sql)
}

fn psql_with_password(url: &str, password: Option<&str>, sql: &str) -> Output {
    let mut command = Command::new("psql");
    command.args([url, "-X", "-A", "-t", "-w", "-c", sql]).env("PGCONNECT_TIMEOUT", "5").env_remove("PGPASSWORD");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().expect("psql is not installed: run the tests through .ci/run, which installs it")
}

fn etcdctl(endpoint: &str, tls: &[String], args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=https://{endpoint}"))
        .args(["--dial-timeout=3s", "--command-timeout=5s"])
        .args(tls)
        .args(args)
        .output()
        .expect("etcdctl is not installed: run the tests through .ci/run, which installs it")
}

/// Asks the node at `host` (peer port) to register a node, with `root`'s client certificate.
async fn join_as_root(host: &str, certs: &Path) -> Result<(), tonic::Status> {
    let root = ClientCerts::load(certs, "root").expect("root");
    let endpoint = atoll_security::grpc_endpoint(host, Some(root.grpc()), Duration::from_secs(2)).expect("endpoint");
    let channel = endpoint.connect().await.expect("root connects to the peer port");
    let node = NodeInfo { peer_addr: "127.0.0.1:1".into(), name: "impostor".into(), ..Default::default() };
    PeerClient::new(channel).join(JoinRequest { node: Some(node) }).await.map(|_| ())
}

/// The broken build: with `--unsafe-any-peer-certificate` the check above must fail, since a
/// client certificate then registers a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_skips_the_peer_name_check_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    create_certs(&certs, &dir.path().join("ca.key"));
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_atoll"));
    let mut cluster = LocalCluster::new(exe, 1, None, vec!["--unsafe-any-peer-certificate".into()]).expect("layout");
    cluster.use_certs(&certs).expect("certs");
    cluster.start(&mut |_| {}).await.expect("the node starts");
    let host = cluster.nodes[0].peer.clone();
    join_as_root(&host, &certs).await.expect("the broken node lets root's certificate register a node");
    let members = cluster.nodes[0].status().await.expect("status").nodes.len();
    assert_eq!(members, 2, "the impostor is a member of the broken node's cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_cluster_admits_only_its_own_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (certs, other) = (dir.path().join("certs"), dir.path().join("other"));
    create_certs(&certs, &dir.path().join("ca.key"));
    create_certs(&other, &dir.path().join("other-ca.key"));

    // No security choice at all is refused before anything starts.
    let refused = atoll(&["start", "--data-dir", dir.path().join("nothing").to_str().expect("utf-8")]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--certs-dir") && text(&refused).contains("--insecure"), "{}", text(&refused));

    // Three nodes that join and replicate over mutual TLS.
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_atoll"));
    let mut cluster = LocalCluster::new(exe, 3, None, Vec::new()).expect("layout");
    cluster.use_certs(&certs).expect("certs");
    cluster.start(&mut |_| {}).await.expect("a secure cluster starts and replicates");
    let node = &cluster.nodes[0];
    let c = certs.display();
    let o = other.display();

    // psql: verify-full with the cluster's CA and root's certificate.
    let good = format!(
        "postgresql://root@{}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt&sslcert={c}/client.root.crt&sslkey={c}/client.root.key",
        node.sql
    );
    let created = psql(&good, "CREATE TABLE secrets (k INT PRIMARY KEY, v TEXT)");
    assert!(created.status.success(), "{}", text(&created));
    let inserted = psql(&good, "INSERT INTO secrets VALUES (1, 'kept')");
    assert!(inserted.status.success(), "{}", text(&inserted));
    let read = psql(&good, "SELECT v FROM secrets WHERE k = 1");
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), "kept", "{}", text(&read));

    let refusals = [
        // No TLS at all.
        (format!("postgresql://root@{}/postgres?sslmode=disable", node.sql), "no encryption"),
        // TLS, but no client certificate: the node asks for a password, psql has none.
        (format!("postgresql://root@{}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt", node.sql), "no password supplied"),
        // root's certificate used for another user: a password is asked for.
        (
            format!("postgresql://alice@{}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt&sslcert={c}/client.root.crt&sslkey={c}/client.root.key", node.sql),
            "no password supplied",
        ),
        // Another CA's client certificate: the handshake fails.
        (
            format!("postgresql://root@{}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt&sslcert={o}/client.root.crt&sslkey={o}/client.root.key", node.sql),
            "",
        ),
        // The client trusts another CA: it refuses the node.
        (format!("postgresql://root@{}/postgres?sslmode=verify-full&sslrootcert={o}/ca.crt", node.sql), "certificate verify failed"),
    ];
    for (url, expected) in refusals {
        let output = psql(&url, "SELECT 1");
        assert!(!output.status.success(), "{url} was let in");
        assert!(text(&output).contains(expected), "{url}: {}", text(&output));
    }
    let sqlstate = psql(&format!("postgresql://root@{}/postgres?sslmode=disable", node.sql), "SELECT 1");
    assert!(text(&sqlstate).contains("FATAL"), "{}", text(&sqlstate));

    // Passwords: root creates a user, who logs in with SCRAM-SHA-256 and no certificate.
    let created = psql(&good, "CREATE USER alice WITH PASSWORD 'wonderland'");
    assert!(created.status.success(), "{}", text(&created));
    let alice =
        format!("postgresql://alice@{}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt", cluster.nodes[1].sql);
    let logged_in = psql_with_password(&alice, Some("wonderland"), "SELECT v FROM secrets");
    assert_eq!(String::from_utf8_lossy(&logged_in.stdout).trim(), "kept", "{}", text(&logged_in));
    for (url, password) in [(alice.clone(), "looking-glass"), (alice.replace("alice@", "bob@"), "wonderland")] {
        let refused = psql_with_password(&url, Some(password), "SELECT 1");
        assert!(!refused.status.success(), "{url} with {password} was let in");
        assert!(text(&refused).contains("password authentication failed for user"), "{}", text(&refused));
    }
    // A user who is not a superuser may change its own password and nothing else.
    let denied = psql_with_password(&alice, Some("wonderland"), "CREATE ROLE mallory LOGIN");
    assert!(text(&denied).contains("permission denied to create role"), "{}", text(&denied));
    for statement in
        ["ALTER ROLE root WITH PASSWORD 'mine'", "ALTER ROLE ALL SET statement_timeout = '1ms'", "DROP ROLE root"]
    {
        let denied = psql_with_password(&alice, Some("wonderland"), statement);
        assert!(text(&denied).contains("permission denied"), "{statement}: {}", text(&denied));
    }
    let changed = psql_with_password(&alice, Some("wonderland"), "ALTER USER alice WITH PASSWORD 'looking-glass'");
    assert!(changed.status.success(), "{}", text(&changed));
    assert!(!psql_with_password(&alice, Some("wonderland"), "SELECT 1").status.success(), "the old password");
    assert!(psql_with_password(&alice, Some("looking-glass"), "SELECT 1").status.success(), "the new password");
    let dropped = psql(&good, "DROP USER alice");
    assert!(dropped.status.success(), "{}", text(&dropped));
    assert!(!psql_with_password(&alice, Some("looking-glass"), "SELECT 1").status.success(), "a dropped user");

    // etcdctl with the cluster's certificates, and without a client certificate.
    let tls = |dir: &str| -> Vec<String> {
        vec![
            format!("--cacert={c}/ca.crt"),
            format!("--cert={dir}/client.root.crt"),
            format!("--key={dir}/client.root.key"),
        ]
    };
    let put = etcdctl(&node.etcd, &tls(&c.to_string()), &["put", "greeting", "hello"]);
    assert!(put.status.success(), "{}", text(&put));
    let get = etcdctl(&cluster.nodes[1].etcd, &tls(&c.to_string()), &["get", "greeting", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "hello", "{}", text(&get));
    let anonymous = etcdctl(&node.etcd, &[format!("--cacert={c}/ca.crt")], &["get", "greeting"]);
    assert!(!anonymous.status.success(), "etcdctl without a client certificate was served");
    let stranger = etcdctl(&node.etcd, &tls(&o.to_string()), &["get", "greeting"]);
    assert!(!stranger.status.success(), "etcdctl with another CA's certificate was served");

    // HTTPS for health and metrics; plain HTTP gets nothing.
    let health = node.http_get("/health").expect("health over TLS");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(atoll_chaos::local::http_get(&node.http, None, "/health").is_err(), "plain HTTP was served");

    // The admin commands need root's (or a node's) certificate.
    let host = node.peer.as_str();
    let listed = atoll(&["node", "ls", "--host", host, "--certs-dir", &c.to_string()]);
    assert!(listed.status.success() && text(&listed).lines().count() >= 4, "{}", text(&listed));
    assert!(!atoll(&["node", "ls", "--host", host]).status.success(), "node ls without certificates");
    let foreign = atoll(&["range", "ls", "--host", host, "--certs-dir", &o.to_string()]);
    assert!(!foreign.status.success(), "range ls with another CA's certificates: {}", text(&foreign));

    // A client certificate may ask for status, but not send what only nodes send.
    let join = join_as_root(host, &certs).await.expect_err("root's certificate must not join nodes");
    assert_eq!(join.code(), tonic::Code::PermissionDenied, "{join:?}");

    // A node with another cluster's certificates cannot join.
    let stranger_dir = dir.path().join("stranger");
    let port = || format!("127.0.0.1:{}", atoll_chaos::local::pick_port().expect("port"));
    let joined = tokio::task::spawn_blocking({
        let (stranger_dir, other, join) = (stranger_dir.clone(), other.clone(), host.to_string());
        let (peer, etcd, http, sql) = (port(), port(), port(), port());
        move || {
            Command::new(env!("CARGO_BIN_EXE_atoll"))
                .args(["start", "--data-dir", stranger_dir.to_str().expect("utf-8")])
                .args(["--certs-dir", other.to_str().expect("utf-8"), "--join", &join, "--join-timeout-secs", "4"])
                .args(["--peer-addr", &peer, "--etcd-addr", &etcd, "--http-addr", &http, "--sql-addr", &sql])
                .output()
                .expect("run atoll")
        }
    })
    .await
    .expect("join attempt");
    assert!(!joined.status.success(), "a node of another CA joined: {}", text(&joined));
    assert!(text(&joined).contains("could not join"), "{}", text(&joined));
    let members = cluster.nodes[0].status().await.expect("status").nodes.len();
    assert_eq!(members, 3, "the stranger must not be a member");
}
