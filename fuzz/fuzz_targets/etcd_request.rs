//! An etcd client's request, confined and served (see `atoll_fuzz::etcd_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| atoll_fuzz::etcd_request(input));
