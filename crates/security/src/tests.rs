use crate::certs::{self, CA_CERT, NODE_CERT, NODE_KEY};
use crate::{ClientCerts, NodeCerts};
use std::path::Path;

fn cluster(dir: &Path) {
    let ca_key = dir.join("ca.key");
    certs::create_ca(dir, &ca_key, certs::CA_DAYS, false).expect("CA");
    certs::create_node(dir, &ca_key, &["127.0.0.1".into(), "localhost".into()], certs::NODE_DAYS, false).expect("node");
    certs::create_client(dir, &ca_key, "root", certs::CLIENT_DAYS, false).expect("client");
}

fn error_of(result: Result<NodeCerts, crate::CertError>) -> String {
    result.expect_err("the certificates must be refused").to_string()
}

#[test]
fn created_certificates_load_and_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    cluster(dir.path());
    let node = NodeCerts::load(dir.path()).expect("node certificates load");
    assert_eq!(node.hosts, vec!["127.0.0.1".to_string(), "localhost".to_string()]);
    assert!(ClientCerts::load(dir.path(), "root").expect("client").has_identity());
    assert!(!ClientCerts::load(dir.path(), "alice").expect("CA only").has_identity());
    let listed = certs::list(dir.path()).expect("list");
    let names: Vec<(&str, &str)> = listed.iter().map(|c| (c.file.as_str(), c.common_name.as_str())).collect();
    assert_eq!(names, [("ca.crt", "Atoll CA"), ("client.root.crt", "root"), ("node.crt", "node")]);
    // Keys are private to their owner.
    use std::os::unix::fs::PermissionsExt;
    for key in ["ca.key", NODE_KEY, "client.root.key"] {
        let mode = std::fs::metadata(dir.path().join(key)).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{key} is readable by others: {mode:o}");
    }
}

#[test]
fn nothing_is_overwritten_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    cluster(dir.path());
    let before = std::fs::read(dir.path().join(CA_CERT)).expect("ca");
    let again = certs::create_ca(dir.path(), &dir.path().join("ca.key"), certs::CA_DAYS, false);
    assert!(again.expect_err("exists").to_string().contains("--overwrite"));
    assert_eq!(std::fs::read(dir.path().join(CA_CERT)).expect("ca"), before);
    certs::create_node(dir.path(), &dir.path().join("ca.key"), &["node1".into()], 1, true).expect("overwrite");
    assert_eq!(NodeCerts::load(dir.path()).expect("new node cert").hosts, vec!["node1".to_string()]);
}

#[test]
fn bad_certificates_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    cluster(dir.path());
    let other = tempfile::tempdir().expect("tempdir");
    cluster(other.path());

    // A node certificate from another cluster's CA.
    let mixed = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.path().join(CA_CERT), mixed.path().join(CA_CERT)).expect("copy");
    std::fs::copy(other.path().join(NODE_CERT), mixed.path().join(NODE_CERT)).expect("copy");
    std::fs::copy(other.path().join(NODE_KEY), mixed.path().join(NODE_KEY)).expect("copy");
    let error = error_of(NodeCerts::load(mixed.path()));
    assert!(error.contains("node.crt") && error.contains("not accepted by the CA"), "{error}");

    // The key of another certificate.
    std::fs::copy(dir.path().join(NODE_CERT), mixed.path().join(NODE_CERT)).expect("copy");
    let error = error_of(NodeCerts::load(mixed.path()));
    assert!(error.contains("node.key") && error.contains("does not belong"), "{error}");

    // A client certificate where the node's should be.
    std::fs::copy(dir.path().join("client.root.crt"), mixed.path().join(NODE_CERT)).expect("copy");
    std::fs::copy(dir.path().join("client.root.key"), mixed.path().join(NODE_KEY)).expect("copy");
    let error = error_of(NodeCerts::load(mixed.path()));
    assert!(error.contains("names \"root\""), "{error}");

    // Missing files say how to make them.
    let error = error_of(NodeCerts::load(&mixed.path().join("nowhere")));
    assert!(error.contains("ca.crt") && error.contains("atoll cert"), "{error}");

    // An expired certificate (valid for zero days: its end is the moment it was made).
    certs::create_node(dir.path(), &dir.path().join("ca.key"), &["127.0.0.1".into()], 0, true).expect("node");
    let error = error_of(NodeCerts::load(dir.path()));
    assert!(error.contains("expired"), "{error}");

    assert!(certs::create_client(dir.path(), &dir.path().join("ca.key"), "Robert'); DROP", 1, false).is_err());
    assert!(certs::create_node(dir.path(), &dir.path().join("ca.key"), &[], 1, true).is_err());
}

/// A real handshake over a socket pair: the server's SQL config and a client's config from the
/// same directory agree (IP address SAN, client certificate), and another CA's client fails.
#[test]
fn handshake_with_the_cluster_ca_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    cluster(dir.path());
    let other = tempfile::tempdir().expect("tempdir");
    cluster(other.path());
    let server = NodeCerts::load(dir.path()).expect("node").sql_server().expect("server config");
    let handshake = |client: std::sync::Arc<rustls::ClientConfig>| -> Result<Option<String>, String> {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let mut client = rustls::ClientConnection::new(client, name).map_err(|e| e.to_string())?;
        let mut server = rustls::ServerConnection::new(server.clone()).map_err(|e| e.to_string())?;
        let mut buffer = Vec::new();
        for _ in 0..10 {
            buffer.clear();
            client.write_tls(&mut buffer).map_err(|e| e.to_string())?;
            server.read_tls(&mut buffer.as_slice()).map_err(|e| e.to_string())?;
            server.process_new_packets().map_err(|e| format!("server: {e}"))?;
            buffer.clear();
            server.write_tls(&mut buffer).map_err(|e| e.to_string())?;
            client.read_tls(&mut buffer.as_slice()).map_err(|e| e.to_string())?;
            client.process_new_packets().map_err(|e| format!("client: {e}"))?;
            if !client.is_handshaking() && !server.is_handshaking() {
                let peer = server.peer_certificates().and_then(|c| c.first()).and_then(|c| crate::common_name(c));
                return Ok(peer);
            }
        }
        Err("handshake did not finish".into())
    };
    let root = ClientCerts::load(dir.path(), "root").expect("root").rustls().expect("config");
    assert_eq!(handshake(root), Ok(Some("root".to_string())));
    let anonymous = ClientCerts::load(dir.path(), "alice").expect("CA only").rustls().expect("config");
    assert_eq!(handshake(anonymous), Ok(None));
    let stranger = ClientCerts::load(other.path(), "root").expect("other").rustls().expect("config");
    let refused = handshake(stranger).expect_err("another CA's client must fail");
    assert!(refused.contains("client:"), "the client must refuse the server's certificate: {refused}");
}
