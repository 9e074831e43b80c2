//! What a SQL client sends before any data is touched: statement text (tokenized, bounded in
//! depth, parsed, its AND/OR chains rebalanced) and numeric values in text and binary. None of
//! it may panic; a binary numeric that decodes must encode back to the same value, and a text
//! numeric that parses must survive the same round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = atoll_sql::session::parse(text);
        if let Ok((value, scale)) = atoll_sql::numeric::parse(text) {
            let again = atoll_sql::numeric::decode(&atoll_sql::numeric::encode(value, scale));
            assert_eq!(again.ok(), Some((value, scale)), "text numeric {text:?}");
        }
    }
    if let Ok((value, scale)) = atoll_sql::numeric::decode(input) {
        let again = atoll_sql::numeric::decode(&atoll_sql::numeric::encode(value, scale));
        assert_eq!(again.ok(), Some((value, scale)), "binary numeric {input:?}");
    }
});
