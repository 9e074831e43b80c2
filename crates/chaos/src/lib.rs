//! Atoll's fault harness: proof, not promises.
//!
//! * [`local`] runs a cluster of real `atoll start` processes on loopback and can kill -9,
//!   restart, pause (SIGSTOP/SIGCONT) and isolate (through the nodes' fault switches) any node.
//! * [`workload`] drives clients through the etcd API and records every operation's
//!   invocation and completion into a [`history::History`]; [`sql_bank`] drives bank
//!   transfers through SQL, and [`hostile`] SQL clients that try to take nodes down.
//! * [`nemesis`] injects faults on a seeded schedule while the workload runs.
//! * [`linearizability`] decides whether a register history is linearizable (Wing & Gong
//!   search with Lowe's memoisation, per key); [`durability`] checks that every acknowledged
//!   write survived and that all replicas hold the same data.
//!
//! One seed drives the workload's choices and the nemesis schedule, so a failing run can be
//! repeated with the same seed (timing on a real machine still varies).

pub mod bank;
pub mod durability;
pub mod elle;
pub mod history;
pub mod hostile;
pub mod linearizability;
pub mod local;
pub mod nemesis;
pub mod sql_bank;
pub mod workload;
