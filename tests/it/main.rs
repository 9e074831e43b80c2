//! Process-level tests: real `atoll` processes on loopback, driven by real clients.
//!
//! One test binary (see the `[[test]]` entry of crates/cli/Cargo.toml). The cluster harness
//! is in [`cluster`]; each other module is one behaviour.

mod admin;
mod chaos;
mod cluster;
mod encryption;
mod etcd_auth;
mod etcdctl;
mod failover;
mod fuzz_corpus;
mod gc;
mod hostile;
mod metrics;
mod pgbench;
mod pgdiff;
mod placement;
mod python;
mod ranges;
mod security;
mod snapshot;
mod sql;

/// crates/cli, as cargo names it when it runs the tests rather than where the binary was
/// built: a target dir shared by two checkouts (CI's cache) may hold a binary built in the other.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()).into()
}
