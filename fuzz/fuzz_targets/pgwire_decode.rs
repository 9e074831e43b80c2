//! Bytes a SQL client sends: read as a connection reads them (a startup message, then typed
//! messages, each cut by its length, its fields checked by `atoll_sql::frame`, then decoded by
//! pgwire). With the checks in front, pgwire must never panic; libFuzzer fails on a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let _ = atoll_sql::frame::decode_stream(input);
});
