//! What another node sends: Raft batches and snapshot streams (see `atoll_fuzz::peer_input`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| atoll_fuzz::peer_input(input));
