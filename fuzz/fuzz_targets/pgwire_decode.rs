//! Bytes as a SQL client's stream, read as a connection reads them (see
//! `atoll_fuzz::pgwire_decode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| atoll_fuzz::pgwire_decode(input));
