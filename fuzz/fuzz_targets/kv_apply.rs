//! Any sequence of Raft commands applied to a range (see `atoll_fuzz::kv_apply`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| atoll_fuzz::kv_apply(input));
