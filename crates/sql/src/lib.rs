//! SQL for Atoll: the PostgreSQL wire protocol ([`server`]) over sessions ([`session`]) that
//! plan queries with DataFusion against tables stored in the transactional KV
//! ([`provider`], [`encoding`], [`catalog`]).

mod any_op;
pub mod audit;
mod bounded;
mod cancel;
pub mod catalog;
mod checked;
mod column_names;
mod connection;
mod copy;
mod ddl;
mod decimal_casts;
pub mod depth;
mod dialect;
mod dml;
pub mod encoding;
pub mod error;
mod execute;
mod fastpath;
pub mod frame;
pub mod kv;
pub mod kv_auth;
mod literals;
mod login;
pub mod metrics;
pub mod numeric;
mod params;
pub mod pg_catalog;
mod pg_functions;
mod plan_cache;
pub mod privileges;
pub mod provider;
mod result_types;
pub mod roles;
pub mod scram;
pub mod server;
pub mod session;
mod show_ranges;
mod standard_forms;
mod to_char;
pub mod types;

pub use error::SqlError;
pub use kv::{KvBackend, NodeKv, RangeInfo};
pub use server::serve;
pub use session::{Engine, SqlLimits};

/// The PostgreSQL version Atoll reports (clients pick features by it).
pub const SERVER_VERSION: &str = "15.0";
/// The same as a number, as `SHOW server_version_num` gives it.
pub const SERVER_VERSION_NUM: &str = "150000";
