//! Statement text and numerics as a SQL client sends them (see `atoll_fuzz::sql_input`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| atoll_fuzz::sql_input(input));
