//! `SHOW RANGES`, `SHOW RANGES FROM TABLE t` and `SHOW RANGES FROM DATABASE d`
//! (CockroachDB's statements, so its documentation applies): the ranges that hold the
//! cluster's, a table's or a database's data, one row per range, with CockroachDB's columns
//! `range_id`, `start_key`, `end_key`, `range_size_mb`, `replicas` and `lease_holder` (the
//! range's Raft leader).
//!
//! Keys are shown as their bytes, escaped (`\xff` is where SQL's keyspace starts; see
//! `atoll_server::keyspaces`); `/Min` and `/Max` stand for the ends of the key space. The size
//! is the range's live keys and values, counted in one pass over the newest versions, so the
//! statement costs about a second per million rows.

use crate::error::{code, Result, SqlError};
use crate::kv::RangeInfo;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast;
use std::sync::Arc;

/// What a `SHOW RANGES` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    All,
    Table(ast::ObjectName),
    Database(String),
}

/// Reads `SHOW <variable>` as a `SHOW RANGES` statement; `None` when it is another `SHOW`.
pub fn parse(variable: &[ast::Ident]) -> Option<Result<Target>> {
    let words: Vec<String> = variable.iter().map(|ident| ident.value.to_uppercase()).collect();
    if words.first().map(String::as_str) != Some("RANGES") {
        return None;
    }
    let usage = || SqlError::new(code::SYNTAX_ERROR, "SHOW RANGES [FROM TABLE <table> | FROM DATABASE <database>]");
    let target = match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["RANGES"] => Ok(Target::All),
        ["RANGES", "FROM", "TABLE", _, ..] => {
            let parts = variable[3..].iter().cloned().map(ast::ObjectNamePart::Identifier).collect();
            Ok(Target::Table(ast::ObjectName(parts)))
        }
        ["RANGES", "FROM", "DATABASE", _] => {
            let name = &variable[3];
            Ok(Target::Database(if name.quote_style.is_some() {
                name.value.clone()
            } else {
                name.value.to_lowercase()
            }))
        }
        _ => Err(usage()),
    };
    Some(target)
}

/// The result's columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("range_id", DataType::Int64, false),
        Field::new("start_key", DataType::Utf8, false),
        Field::new("end_key", DataType::Utf8, false),
        Field::new("range_size_mb", DataType::Float64, false),
        Field::new("replicas", DataType::Utf8, false),
        Field::new("lease_holder", DataType::Int64, true),
    ]))
}

/// One row per range that holds a key of any of `spans` (`[start, end)`, an empty end: to the
/// end of the key space), in key order.
pub fn rows(ranges: &[RangeInfo], spans: &[(Vec<u8>, Vec<u8>)]) -> Result<RecordBatch> {
    let overlaps = |range: &RangeInfo, (start, end): &(Vec<u8>, Vec<u8>)| {
        let before = |end: &[u8], start: &[u8]| !end.is_empty() && end <= start;
        !before(&range.end_key, start) && !before(end, &range.start_key)
    };
    let shown: Vec<&RangeInfo> = ranges.iter().filter(|range| spans.iter().any(|span| overlaps(range, span))).collect();
    let key = |key: &[u8], empty: &str| if key.is_empty() { empty.to_string() } else { key.escape_ascii().to_string() };
    let replicas =
        |range: &RangeInfo| format!("{{{}}}", range.replicas.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(shown.iter().map(|r| r.range_id as i64))),
        Arc::new(StringArray::from_iter_values(shown.iter().map(|r| key(&r.start_key, "/Min")))),
        Arc::new(StringArray::from_iter_values(shown.iter().map(|r| key(&r.end_key, "/Max")))),
        Arc::new(Float64Array::from_iter_values(shown.iter().map(|r| r.live_bytes as f64 / (1024.0 * 1024.0)))),
        Arc::new(StringArray::from_iter_values(shown.iter().map(|r| replicas(r)))),
        Arc::new(Int64Array::from_iter(shown.iter().map(|r| (r.leader != 0).then_some(r.leader as i64)))),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    fn idents(words: &[&str]) -> Vec<ast::Ident> {
        words.iter().map(|w| ast::Ident::new(*w)).collect()
    }

    fn range(id: u64, start: &[u8], end: &[u8]) -> RangeInfo {
        RangeInfo {
            range_id: id,
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            replicas: vec![1, 2, 3],
            leader: if id == 1 { 2 } else { 0 },
            live_bytes: 3 * 1024 * 1024,
        }
    }

    #[test]
    fn show_ranges_statements_are_read_and_others_left_alone() {
        assert!(parse(&idents(&["search_path"])).is_none());
        assert_eq!(parse(&idents(&["ranges"])).and_then(|r| r.ok()), Some(Target::All));
        let table = parse(&idents(&["RANGES", "FROM", "TABLE", "T"])).and_then(|r| r.ok());
        assert_eq!(
            table,
            Some(Target::Table(ast::ObjectName(vec![ast::ObjectNamePart::Identifier(ast::Ident::new("T"))])))
        );
        let database = parse(&idents(&["RANGES", "FROM", "DATABASE", "Shop"])).and_then(|r| r.ok());
        assert_eq!(database, Some(Target::Database("shop".into())));
        let wrong = parse(&idents(&["RANGES", "FROM", "INDEX", "i"])).expect("a SHOW RANGES");
        assert_eq!(wrong.expect_err("no such form").code, code::SYNTAX_ERROR);
    }

    #[test]
    fn rows_list_the_ranges_that_hold_a_span_with_their_keys_shown() {
        let ranges = [range(1, b"", b"\xff"), range(2, b"\xff", b"")];
        let table = [(b"\xfft\x00".to_vec(), b"\xfft\x01".to_vec())];
        let batch = rows(&ranges, &table).expect("rows");
        assert_eq!(batch.num_rows(), 1, "only SQL's range holds a table");
        let text = |column: usize, row: usize| {
            batch.column(column).as_any().downcast_ref::<StringArray>().expect("text").value(row).to_string()
        };
        assert_eq!((text(1, 0), text(2, 0), text(4, 0)), ("\\xff".into(), "/Max".into(), "{1,2,3}".into()));
        let everything = rows(&ranges, &[(vec![], vec![])]).expect("rows");
        assert_eq!(everything.num_rows(), 2);
        let size = everything.column(3).as_any().downcast_ref::<Float64Array>().expect("size").value(0);
        assert_eq!(size, 3.0);
        let leaders = everything.column(5).as_any().downcast_ref::<Int64Array>().expect("leader").clone();
        assert_eq!((leaders.value(0), leaders.is_null(1)), (2, true), "no leader known: NULL");
        let texts = everything.column(1).as_any().downcast_ref::<StringArray>().expect("text").value(0).to_string();
        assert_eq!(texts, "/Min");
    }
}
