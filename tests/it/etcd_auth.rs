//! etcd's Auth API on a secure node, with unmodified etcdctl: users, roles and key-range
//! permissions (the same users and roles SQL has), passwords and client certificates, and
//! the checks on every request.

use crate::security::{as_root, atoll, etcdctl, one_secure_node, psql_as, text};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn tls(certs: &Path, user: Option<&str>) -> Vec<String> {
    let c = certs.display();
    let mut args = vec![format!("--cacert={c}/ca.crt")];
    if let Some(user) = user {
        args.push(format!("--cert={c}/client.{user}.crt"));
        args.push(format!("--key={c}/client.{user}.key"));
    }
    args
}

fn with_password(certs: &Path, user: &str, password: &str) -> Vec<String> {
    let mut args = tls(certs, None);
    args.push(format!("--user={user}:{password}"));
    args
}

fn ok(endpoint: &str, tls: &[String], args: &[&str]) -> String {
    let output = etcdctl(endpoint, tls, args);
    assert!(output.status.success(), "etcdctl {args:?}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn refused(output: &Output, message: &str) -> bool {
    !output.status.success() && text(output).contains(message)
}

/// Root gives user `nobody` (password `nobody-pw`) no role, then `nobody` tries to read, write
/// and delete root's key `/ops/b` and to list the users. Returns the requests that were not
/// refused with etcd's permission error.
fn ungranted_requests_served(endpoint: &str, certs: &Path) -> Vec<String> {
    let root = tls(certs, Some("root"));
    ok(endpoint, &root, &["put", "/ops/b", "2"]);
    ok(endpoint, &root, &["user", "add", "nobody:nobody-pw"]);
    let nobody = with_password(certs, "nobody", "nobody-pw");
    let mut served = Vec::new();
    for args in [
        &["get", "/ops/b"][..],
        &["get", "/", "--prefix"],
        &["get", "", "--from-key"],
        &["put", "/ops/b", "taken"],
        &["del", "/ops/b"],
        &["user", "list"],
        &["role", "add", "mine"],
    ] {
        let output = etcdctl(endpoint, &nobody, args);
        if !refused(&output, "etcdserver: permission denied") {
            served.push(format!("{args:?}: {}", text(&output)));
        }
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_users_roles_and_key_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, certs) = one_secure_node(dir.path(), &[]).await;
    let node = &cluster.nodes[0];
    let endpoint = node.etcd.as_str();
    let root = tls(&certs, Some("root"));

    // Auth is on from a secure cluster's start: a client without certificate or password is
    // nobody, and nobody may do anything.
    let anonymous = etcdctl(endpoint, &tls(&certs, None), &["get", "/app/a"]);
    assert!(refused(&anonymous, "etcdserver: user name is empty"), "{}", text(&anonymous));
    let served = ungranted_requests_served(endpoint, &certs);
    assert!(served.is_empty(), "a user granted nothing was served: {served:#?}");

    // Root makes a user and a role with permissions on a prefix and one key.
    ok(endpoint, &root, &["put", "/app/a", "1"]);
    assert_eq!(ok(endpoint, &root, &["user", "add", "alice:wonderland"]), "User alice created");
    ok(endpoint, &root, &["role", "add", "app"]);
    ok(endpoint, &root, &["role", "grant-permission", "app", "readwrite", "/app/", "--prefix"]);
    ok(endpoint, &root, &["role", "grant-permission", "app", "read", "/ops/b"]);
    ok(endpoint, &root, &["user", "grant-role", "alice", "app"]);
    let role = ok(endpoint, &root, &["role", "get", "app"]);
    assert!(role.contains("[/app/, /app0) (prefix /app/)") && role.contains("/ops/b"), "{role}");
    assert_eq!(ok(endpoint, &root, &["user", "list"]).lines().collect::<Vec<_>>(), ["alice", "nobody", "root"]);

    // alice, by password: what her role allows, and nothing else.
    let alice = with_password(&certs, "alice", "wonderland");
    assert_eq!(ok(endpoint, &alice, &["get", "/app/a", "--print-value-only"]), "1");
    ok(endpoint, &alice, &["put", "/app/c", "3"]);
    assert_eq!(ok(endpoint, &alice, &["get", "/app/", "--prefix", "--keys-only"]).split_whitespace().count(), 2);
    assert_eq!(ok(endpoint, &alice, &["get", "/ops/b", "--print-value-only"]), "2");
    assert_eq!(ok(endpoint, &alice, &["user", "get", "alice"]), "User: alice\nRoles: app");
    for args in [&["put", "/ops/b", "x"][..], &["del", "/ops/b"], &["get", "/", "--prefix"], &["role", "get", "root"]] {
        let output = etcdctl(endpoint, &alice, args);
        assert!(refused(&output, "etcdserver: permission denied"), "alice {args:?}: {}", text(&output));
    }
    let wrong = etcdctl(endpoint, &with_password(&certs, "alice", "looking-glass"), &["get", "/app/a"]);
    assert!(refused(&wrong, "etcdserver: authentication failed, invalid user ID or password"), "{}", text(&wrong));

    // One set of users: alice logs in to SQL with the same password, and SQL sees the role.
    let sql = psql_as(&node.sql, &certs, "alice", "wonderland", "SELECT current_user");
    assert_eq!(String::from_utf8_lossy(&sql.stdout).trim(), "alice", "{}", text(&sql));
    let members = as_root(
        &node.sql,
        &certs,
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = 'app' AND u.rolname = 'alice'",
    );
    assert_eq!(members.trim(), "1", "alice is a member of app in SQL too");

    // A client certificate names its user.
    let c = certs.to_str().expect("utf-8");
    let ca_key = dir.path().join("ca.key");
    let made =
        atoll(&["cert", "create-client", "--certs-dir", c, "--ca-key", ca_key.to_str().expect("utf-8"), "alice"]);
    assert!(made.status.success(), "{}", text(&made));
    let alice_cert = tls(&certs, Some("alice"));
    assert_eq!(ok(endpoint, &alice_cert, &["get", "/app/a", "--print-value-only"]), "1");
    assert!(refused(&etcdctl(endpoint, &alice_cert, &["put", "/ops/b", "x"]), "permission denied"));

    // A revoked permission is refused on every node within the auth state's lifetime (1 s).
    ok(endpoint, &root, &["role", "revoke-permission", "app", "/app/", "--prefix"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = etcdctl(endpoint, &alice, &["get", "/app/a"]);
        if refused(&output, "etcdserver: permission denied") {
            break;
        }
        assert!(Instant::now() < deadline, "the revoked permission still serves: {}", text(&output));
        std::thread::sleep(Duration::from_millis(200));
    }

    // What etcd refuses to do to root, and what it says.
    for (args, message) in [
        (&["user", "delete", "root"][..], "etcdserver: invalid auth management"),
        (&["role", "delete", "root"], "etcdserver: invalid auth management"),
        (&["user", "revoke-role", "root", "root"], "etcdserver: invalid auth management"),
        (&["user", "add", "alice:again"], "etcdserver: user name already exists"),
        (&["user", "grant-role", "alice", "nosuch"], "etcdserver: role name not found"),
        (&["user", "revoke-role", "alice", "root"], "etcdserver: role is not granted to the user"),
        (&["role", "revoke-permission", "app", "/nothing"], "etcdserver: permission is not granted to the role"),
    ] {
        let output = etcdctl(endpoint, &root, args);
        assert!(refused(&output, message), "{args:?}: {}", text(&output));
    }

    // Disabling auth opens the keyspace to every client; enabling closes it again.
    assert_eq!(ok(endpoint, &root, &["auth", "disable"]), "Authentication Disabled");
    assert_eq!(ok(endpoint, &tls(&certs, None), &["get", "/app/a", "--print-value-only"]), "1");
    assert_eq!(ok(endpoint, &root, &["auth", "enable"]), "Authentication Enabled");
    assert!(refused(&etcdctl(endpoint, &tls(&certs, None), &["get", "/app/a"]), "user name is empty"));

    // Deleting the user ends its logins, by etcd and by SQL.
    ok(endpoint, &root, &["user", "delete", "alice"]);
    let gone = etcdctl(endpoint, &alice, &["get", "/ops/b"]);
    assert!(refused(&gone, "authentication failed"), "{}", text(&gone));
    assert!(!psql_as(&node.sql, &certs, "alice", "wonderland", "SELECT 1").status.success());

    // The audit log has the changes and the failed login.
    let audit = std::fs::read_to_string(node.data_dir.join("audit.jsonl")).expect("audit log");
    for needle in [
        r#""event":"role","user":"root","database":"","statement":"etcd user add alice","ok":true"#,
        r#""event":"login","user":"alice","database":"","statement":"etcd Authenticate","ok":false"#,
        r#""statement":"etcd user delete root","ok":false,"grpc_code":"InvalidArgument""#,
    ] {
        assert!(audit.contains(needle), "no {needle} in the audit log:\n{audit}");
    }
    assert!(!audit.contains("wonderland"), "a password reached the audit log");
}

/// The broken build: with `--unsafe-skip-privilege-checks` a user granted nothing reads and
/// writes keys, which the check above must catch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_skips_key_permission_checks_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, certs) = one_secure_node(dir.path(), &["--unsafe-skip-privilege-checks"]).await;
    let served = ungranted_requests_served(&cluster.nodes[0].etcd, &certs);
    assert!(served.iter().any(|s| s.starts_with("[\"get\", \"/ops/b\"]")), "the broken node refused: {served:#?}");
    assert!(served.iter().any(|s| s.starts_with("[\"put\", \"/ops/b\"")), "the broken node refused: {served:#?}");
}
