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

pub(crate) fn atoll(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atoll")).args(args).output().expect("run atoll")
}

pub(crate) fn text(output: &Output) -> String {
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

pub(crate) fn etcdctl(endpoint: &str, tls: &[String], args: &[&str]) -> Output {
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

/// One secure node in `dir`, started with `flags`, and its certificates' directory (made with
/// the CLI).
pub(crate) async fn one_secure_node(dir: &Path, flags: &[&str]) -> (LocalCluster, std::path::PathBuf) {
    let certs = dir.join("certs");
    create_certs(&certs, &dir.join("ca.key"));
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_atoll"));
    let flags = flags.iter().map(|f| f.to_string()).collect();
    let mut cluster = LocalCluster::new(exe, 1, None, flags).expect("layout");
    cluster.use_certs(&certs).expect("certs");
    cluster.start(&mut |_| {}).await.expect("the node starts");
    (cluster, certs)
}

/// The broken build: with `--unsafe-any-peer-certificate` the check above must fail, since a
/// client certificate then registers a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_skips_the_peer_name_check_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, certs) = one_secure_node(dir.path(), &["--unsafe-any-peer-certificate"]).await;
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
    let not_granted = psql_with_password(&alice, Some("wonderland"), "SELECT v FROM secrets");
    assert!(text(&not_granted).contains("permission denied for table secrets"), "{}", text(&not_granted));
    let granted = psql(&good, "GRANT SELECT ON secrets TO alice");
    assert!(granted.status.success(), "{}", text(&granted));
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
    let revoked = psql(&good, "REVOKE SELECT ON secrets FROM alice");
    assert!(revoked.status.success(), "{}", text(&revoked));
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

/// psql as `user` with a password, SQLSTATEs in its errors (`ERROR:  42501: ...`).
pub(crate) fn psql_as(sql_addr: &str, certs: &Path, user: &str, password: &str, sql: &str) -> Output {
    let url =
        format!("postgresql://{user}@{sql_addr}/postgres?sslmode=verify-full&sslrootcert={}/ca.crt", certs.display());
    let mut command = Command::new("psql");
    command.args([url.as_str(), "-X", "-A", "-t", "-w", "-v", "VERBOSITY=verbose", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    command.env("PGCONNECT_TIMEOUT", "5").env("PGPASSWORD", password);
    command.output().expect("psql is not installed: run the tests through .ci/run, which installs it")
}

/// psql as root, by certificate; panics unless every statement succeeds. Returns the output.
pub(crate) fn as_root(sql_addr: &str, certs: &Path, sql: &str) -> String {
    let c = certs.display();
    let url = format!(
        "postgresql://root@{sql_addr}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt&sslcert={c}/client.root.crt&sslkey={c}/client.root.key"
    );
    let output = Command::new("psql")
        .args([url.as_str(), "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql is not installed: run the tests through .ci/run, which installs it");
    assert!(output.status.success(), "root: {sql}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Statements a user who was granted nothing must not run, each with the 42501 message
/// PostgreSQL gives: reads (a scan, the point-read fast path, a subquery, a join), writes, DDL
/// on root's table, and what only superusers do.
const UNGRANTED: &[(&str, &str)] = &[
    ("SELECT * FROM ledger", "permission denied for table ledger"),
    ("SELECT amount FROM ledger WHERE id = 1", "permission denied for table ledger"),
    ("SELECT count(*) FROM (SELECT * FROM ledger) s", "permission denied for table ledger"),
    ("SELECT 1 FROM ledger a JOIN ledger b ON a.id = b.id", "permission denied for table ledger"),
    ("EXPLAIN SELECT * FROM ledger", "permission denied for table ledger"),
    ("SHOW RANGES FROM TABLE ledger", "permission denied for table ledger"),
    ("SHOW RANGES", "permission denied to show ranges"),
    ("SHOW RANGES FROM DATABASE postgres", "permission denied to show ranges"),
    ("WITH c AS (SELECT * FROM ledger) SELECT count(*) FROM c", "permission denied for table ledger"),
    ("INSERT INTO ledger VALUES (9, 9)", "permission denied for table ledger"),
    ("UPDATE ledger SET amount = 0", "permission denied for table ledger"),
    ("UPDATE ledger SET amount = 0 WHERE id = 1", "permission denied for table ledger"),
    ("DELETE FROM ledger WHERE id = 1", "permission denied for table ledger"),
    ("TRUNCATE ledger", "permission denied for table ledger"),
    ("CREATE TABLE mine (x INT)", "permission denied for schema public"),
    ("ALTER TABLE ledger ADD COLUMN note TEXT", "must be owner of table ledger"),
    ("CREATE INDEX ledger_amount ON ledger (amount)", "must be owner of table ledger"),
    ("DROP TABLE ledger", "must be owner of table ledger"),
    ("GRANT SELECT ON ledger TO stranger", "permission denied for table ledger"),
    ("GRANT auditors TO stranger", "permission denied to grant or revoke a role"),
    ("CREATE DATABASE elsewhere", "permission denied to create database"),
];

/// Root makes table `ledger` and the user `stranger` (granted nothing), then `stranger` tries
/// each of [`UNGRANTED`]. Returns those that were not refused as expected, with what happened.
fn ungranted_statements_run(sql_addr: &str, certs: &Path) -> Vec<String> {
    as_root(
        sql_addr,
        certs,
        "CREATE TABLE ledger (id INT PRIMARY KEY, amount INT); INSERT INTO ledger VALUES (1, 10), (2, 20); \
         CREATE USER stranger WITH PASSWORD 'stranger-pw-7'; CREATE ROLE auditors",
    );
    let mut ran = Vec::new();
    for (statement, message) in UNGRANTED {
        let output = psql_as(sql_addr, certs, "stranger", "stranger-pw-7", statement);
        let expected = format!("ERROR:  42501: {message}");
        if output.status.success() || !text(&output).contains(&expected) {
            ran.push(format!("{statement}: {}", text(&output)));
        }
    }
    ran
}

/// The broken build: with `--unsafe-skip-privilege-checks` the check below must fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_skips_privilege_checks_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, certs) = one_secure_node(dir.path(), &["--unsafe-skip-privilege-checks"]).await;
    let ran = ungranted_statements_run(&cluster.nodes[0].sql, &certs);
    assert!(ran.iter().any(|s| s.starts_with("SELECT * FROM ledger")), "the broken node refused: {ran:?}");
    assert!(ran.iter().any(|s| s.starts_with("DROP TABLE ledger")), "the broken node refused: {ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_decide_what_each_user_may_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, certs) = one_secure_node(dir.path(), &[]).await;
    let sql = cluster.nodes[0].sql.clone();
    let ran = ungranted_statements_run(&sql, &certs);
    assert!(ran.is_empty(), "a user granted nothing ran: {ran:#?}");

    let run = |user: &str, statement: &str| psql_as(&sql, &certs, user, &format!("pw-{user}"), statement);
    let ok = |user: &str, statement: &str| {
        let output = run(user, statement);
        assert!(output.status.success(), "{user}: {statement}: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let denied = |user: &str, statement: &str, message: &str| {
        let output = run(user, statement);
        assert!(!output.status.success(), "{user} ran {statement}");
        assert!(text(&output).contains(message), "{user}: {statement}: {}", text(&output));
    };
    as_root(
        &sql,
        &certs,
        "CREATE USER alice WITH PASSWORD 'pw-alice'; CREATE USER bob WITH PASSWORD 'pw-bob'; CREATE ROLE readers; \
         GRANT SELECT ON ledger TO readers; GRANT readers TO alice; \
         GRANT INSERT, UPDATE ON TABLE ledger TO bob WITH GRANT OPTION",
    );
    // alice reads through her role, and may not write.
    assert_eq!(ok("alice", "SELECT sum(amount) FROM ledger"), "30");
    assert_eq!(ok("alice", "SELECT amount FROM ledger WHERE id = 2"), "20");
    let asked = ok(
        "alice",
        "SELECT current_user, has_table_privilege('ledger', 'SELECT'), has_table_privilege('ledger', 'SELECT, INSERT'), \
         has_table_privilege('bob', 'ledger', 'INSERT WITH GRANT OPTION'), has_schema_privilege('public', 'CREATE')",
    );
    assert_eq!(asked, "alice|t|f|t|f");
    // SET ROLE to a role she is a member of, and not to another's.
    assert_eq!(ok("alice", "SET ROLE readers; SELECT current_user, session_user"), "SET\nreaders|alice");
    denied("alice", "SET ROLE bob", "42501: permission denied to set role \"bob\"");
    // A role's own session defaults: set by root or by the user itself, over ALTER ROLE ALL's.
    as_root(&sql, &certs, "ALTER ROLE bob SET statement_timeout = '3s'");
    assert_eq!(ok("bob", "SHOW statement_timeout"), "3s");
    ok("bob", "ALTER ROLE bob SET statement_timeout = '4s'");
    denied("alice", "ALTER ROLE bob SET statement_timeout = '1ms'", "42501: permission denied to alter role");
    assert_eq!(ok("bob", "SHOW statement_timeout"), "4s");
    let config = as_root(&sql, &certs, "SELECT rolconfig FROM pg_roles WHERE rolname = 'bob'");
    assert_eq!(config.trim(), "{statement_timeout=4s}");
    assert_eq!(as_root(&sql, &certs, "\\drds").trim(), "bob||statement_timeout=4s");
    denied("alice", "INSERT INTO ledger VALUES (3, 30)", "42501: permission denied for table ledger");
    // bob writes without reading; a WHERE reads, so it needs SELECT too (as in PostgreSQL).
    assert_eq!(ok("bob", "INSERT INTO ledger VALUES (3, 30)"), "INSERT 0 1");
    assert_eq!(ok("bob", "UPDATE ledger SET amount = 5"), "UPDATE 3");
    denied("bob", "UPDATE ledger SET amount = 6 WHERE id = 1", "42501: permission denied for table ledger");
    denied("bob", "INSERT INTO ledger VALUES (4, 4) RETURNING id", "42501: permission denied for table ledger");
    denied("bob", "SELECT * FROM ledger", "42501: permission denied for table ledger");
    // bob passes on what he holds with grant option, and gets a warning for what he does not.
    ok("bob", "GRANT INSERT ON ledger TO alice");
    assert!(text(&run("bob", "GRANT SELECT ON ledger TO alice")).contains("no privileges were granted for \"ledger\""));
    assert_eq!(ok("alice", "INSERT INTO ledger VALUES (4, 40)"), "INSERT 0 1");

    // What was granted shows as PostgreSQL shows it.
    let acl = as_root(&sql, &certs, "SELECT relacl FROM pg_class WHERE relname = 'ledger'");
    assert_eq!(acl.trim(), "{root=arwdDxt/root,readers=r/root,bob=a*w*/root,alice=a/bob}");
    let du = as_root(&sql, &certs, "\\du alice");
    assert_eq!(du.trim(), "alice||{readers}");
    let dp = as_root(&sql, &certs, "\\dp ledger");
    assert!(dp.contains("readers=r/root") && dp.contains("bob=a*w*/root"), "{dp}");
    let listed = as_root(
        &sql,
        &certs,
        "SELECT grantor, grantee, privilege_type, is_grantable FROM information_schema.table_privileges \
         WHERE table_name = 'ledger' AND grantee <> 'root' ORDER BY grantee, privilege_type",
    );
    assert_eq!(listed.trim(), "bob|alice|INSERT|NO\nroot|bob|INSERT|YES\nroot|bob|UPDATE|YES\nroot|readers|SELECT|NO");

    // Revoked membership takes the role's privileges with it, from the next statement on.
    as_root(&sql, &certs, "REVOKE readers FROM alice");
    denied("alice", "SELECT sum(amount) FROM ledger", "42501: permission denied for table ledger");
    // A role that holds privileges cannot be dropped.
    let output = psql(
        &format!(
            "postgresql://root@{sql}/postgres?sslmode=verify-full&sslrootcert={c}/ca.crt&sslcert={c}/client.root.crt&sslkey={c}/client.root.key",
            c = certs.display()
        ),
        "DROP ROLE bob",
    );
    assert!(
        text(&output).contains("role \"bob\" cannot be dropped because some objects depend on it"),
        "{}",
        text(&output)
    );

    // CREATE on the schema lets alice make tables, which she owns and may drop.
    as_root(&sql, &certs, "GRANT CREATE ON SCHEMA public TO alice");
    ok("alice", "CREATE TABLE mine (x INT)");
    ok("alice", "INSERT INTO mine VALUES (1)");
    assert_eq!(ok("alice", "SELECT x FROM mine"), "1");
    denied("bob", "SELECT x FROM mine", "42501: permission denied for table mine");
    let owner = as_root(
        &sql,
        &certs,
        "SELECT r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.relname = 'mine'",
    );
    assert_eq!(owner.trim(), "alice");
    ok("alice", "DROP TABLE mine");

    // CONNECT: without it a login is refused, with PostgreSQL's FATAL.
    as_root(&sql, &certs, "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC; GRANT CONNECT ON DATABASE postgres TO bob");
    denied("alice", "SELECT 1", "permission denied for database \"postgres\"");
    assert_eq!(ok("bob", "SELECT 1"), "1");
    // CONNECTION LIMIT: a second connection of bob's is refused while his first is open.
    as_root(&sql, &certs, "ALTER ROLE bob WITH CONNECTION LIMIT 1");
    let url = format!("postgresql://bob@{sql}/postgres?sslmode=verify-full&sslrootcert={}/ca.crt", certs.display());
    let mut first = Command::new("psql")
        .args([url.as_str(), "-X", "-A", "-t", "-w", "-c", "SELECT 'first'", "-f", "-"])
        .env("PGPASSWORD", "pw-bob")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(first.stdout.take().expect("stdout")), &mut line)
        .expect("the first connection answers");
    assert_eq!(line.trim(), "first");
    denied("bob", "SELECT 'second'", "too many connections for role \"bob\"");
    drop(first.stdin.take());
    assert!(first.wait().expect("psql ends").success());
    // The node counts the first connection closed once it sees it end (a moment after psql).
    let after = (0..50).find_map(|_| {
        let output = run("bob", "SELECT 'after'");
        if output.status.success() {
            return Some(String::from_utf8_lossy(&output.stdout).trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
    assert_eq!(after.as_deref(), Some("after"));
    let wrong = psql_as(&sql, &certs, "bob", "not-his", "SELECT 1");
    assert!(text(&wrong).contains("password authentication failed"), "{}", text(&wrong));

    // A table audited for every access: reads and writes of it are recorded, refused ones too.
    as_root(&sql, &certs, "ALTER TABLE ledger SET (audit = 'all')");
    let options = as_root(&sql, &certs, "SELECT reloptions FROM pg_class WHERE relname = 'ledger'");
    assert_eq!(options.trim(), "{audit=all}");
    denied("bob", "SELECT * FROM ledger", "42501: permission denied for table ledger");
    assert_eq!(ok("bob", "INSERT INTO ledger VALUES (5, 50)"), "INSERT 0 1");

    // The audit log has the logins, denied and granted changes, and no password.
    let audit = std::fs::read_to_string(cluster.nodes[0].data_dir.join("audit.jsonl")).expect("the audit log");
    let events: Vec<serde_json::Value> =
        audit.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    let has = |wanted: serde_json::Value| {
        let wanted = wanted.as_object().expect("object");
        events.iter().any(|e| wanted.iter().all(|(k, v)| e.get(k) == Some(v)))
    };
    use serde_json::json;
    assert!(has(json!({"event": "login", "user": "alice", "ok": true})), "{audit}");
    assert!(has(json!({"event": "login", "user": "bob", "ok": false, "sqlstate": "28P01"})), "{audit}");
    assert!(has(json!({"event": "login", "user": "alice", "ok": false, "sqlstate": "42501"})), "{audit}");
    assert!(has(json!({"event": "grant", "user": "bob", "statement": "GRANT INSERT ON ledger TO alice", "ok": true})));
    assert!(has(json!({"event": "ddl", "user": "stranger", "statement": "DROP TABLE ledger", "sqlstate": "42501"})));
    assert!(has(json!({"event": "role", "user": "root", "statement": "CREATE ROLE alice LOGIN PASSWORD '********'"})));
    let table = |access: &str, ok: bool| {
        has(json!({"event": "table", "user": "bob", "tables": ["ledger"], "access": access, "ok": ok}))
    };
    assert!(table("read", false) && table("write", true), "{audit}");
    assert!(!audit.contains("pw-alice") && !audit.contains("stranger-pw-7"), "a password in the audit log: {audit}");
}
