//! `atoll cert`: the certificates of a secure cluster (as `cockroach cert`).

use atoll_security::certs;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum CertCommand {
    /// Create the cluster's certificate authority: `ca.crt` in --certs-dir, its key at --ca-key.
    CreateCa {
        #[command(flatten)]
        paths: Paths,
        /// Days the CA is valid.
        #[arg(long, default_value_t = certs::CA_DAYS)]
        lifetime_days: u32,
    },
    /// Create `node.crt` / `node.key`, valid for each HOST (DNS name or IP address) that clients
    /// and other nodes use to reach the node.
    CreateNode {
        #[command(flatten)]
        paths: Paths,
        #[arg(required = true)]
        hosts: Vec<String>,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = certs::NODE_DAYS)]
        lifetime_days: u32,
    },
    /// Create `client.USER.crt` / `client.USER.key`, which log in as USER over SQL and the etcd
    /// API (`root` may also run the admin commands).
    CreateClient {
        #[command(flatten)]
        paths: Paths,
        user: String,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = certs::CLIENT_DAYS)]
        lifetime_days: u32,
    },
    /// Create a random key for encryption at rest (`atoll start --encryption-key-file`), as 64
    /// hex digits, readable by its owner only. Keep a copy off the node: without it the store
    /// cannot be read.
    CreateEncryptionKey {
        /// Where to write it (an existing file is never replaced).
        path: PathBuf,
    },
    /// List the certificates in --certs-dir with their names and expiry.
    List {
        /// The certificates directory.
        #[arg(long)]
        certs_dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct Paths {
    /// The certificates directory (created if missing).
    #[arg(long)]
    certs_dir: PathBuf,
    /// The CA's private key. Whoever holds it can admit nodes and users: keep it off the nodes.
    #[arg(long)]
    ca_key: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(command: CertCommand) -> Result<(), String> {
    let created = match command {
        CertCommand::CreateCa { paths, lifetime_days } => {
            certs::create_ca(&paths.certs_dir, &paths.ca_key, lifetime_days, paths.overwrite)
        }
        CertCommand::CreateNode { paths, hosts, lifetime_days } => {
            certs::create_node(&paths.certs_dir, &paths.ca_key, &hosts, lifetime_days, paths.overwrite)
        }
        CertCommand::CreateClient { paths, user, lifetime_days } => {
            certs::create_client(&paths.certs_dir, &paths.ca_key, &user, lifetime_days, paths.overwrite)
        }
        CertCommand::CreateEncryptionKey { path } => {
            atoll_storage::encryption::StoreKey::create(&path).map_err(|e| e.to_string())?;
            let key = atoll_storage::encryption::StoreKey::read(&path).map_err(|e| e.to_string())?;
            println!("created {} (key {})", path.display(), key.id());
            return Ok(());
        }
        CertCommand::List { certs_dir } => {
            let listed = certs::list(&certs_dir).map_err(|e| e.to_string())?;
            println!("{:<24} {:<12} {:<22} hosts", "file", "name", "expires");
            for cert in listed {
                let expires = cert.not_after.date().to_string();
                println!("{:<24} {:<12} {:<22} {}", cert.file, cert.common_name, expires, cert.hosts.join(","));
            }
            return Ok(());
        }
    };
    let path = created.map_err(|e| e.to_string())?;
    println!("created {}", path.display());
    Ok(())
}
