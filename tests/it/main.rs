//! Process-level tests: real `atoll` processes on loopback, driven by real clients.
//!
//! One test binary (see the `[[test]]` entry of crates/cli/Cargo.toml). The cluster harness
//! is in [`cluster`]; each other module is one behaviour.

mod chaos;
mod cluster;
mod etcdctl;
mod failover;
mod gc;
mod metrics;
mod pgbench;
mod placement;
mod python;
mod sql;
