//! How SQL rows live in the KV.
//!
//! Every SQL key starts with [`SQL_PREFIX`] so it never mixes with keys written through the
//! etcd API's usual printable namespace:
//!
//! ```text
//! 0xFF 'c' <name...>                                   catalog entries (JSON descriptors)
//! 0xFF 't' <table id: u64 BE> <index id: u32 BE> <key columns, order-preserving>   rows
//! ```
//!
//! Index 1 is the primary index: its value is the whole row ([`encode_row`]). A unique
//! secondary index maps its columns to the row's primary key columns; a non-unique one appends
//! the primary key columns to its key and stores nothing.
//!
//! Key columns are encoded so that byte order is value order: a NULL marker byte that sorts
//! first, then integers with the sign bit flipped, floats with the IEEE total-order trick, and
//! strings with 0x00 escaped as 0x00 0xFF and terminated by 0x00 0x01.

use crate::error::{Result, SqlError};
use crate::types::SqlType;
use datafusion::arrow::datatypes::IntervalMonthDayNano;
use datafusion::common::ScalarValue;

/// The first byte of every key SQL writes.
pub const SQL_PREFIX: u8 = 0xFF;
/// The catalog's key space.
pub const CATALOG_TAG: u8 = b'c';
/// The table data key space.
pub const TABLE_TAG: u8 = b't';
/// The primary index of every table.
pub const PRIMARY_INDEX: u32 = 1;

const ROW_FORMAT: u8 = 1;

/// The key prefix of a table's index: `0xFF 't' table index`.
pub fn index_prefix(table: u64, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.push(SQL_PREFIX);
    key.push(TABLE_TAG);
    key.extend_from_slice(&table.to_be_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The key prefix of all of a table's data.
pub fn table_prefix(table: u64) -> Vec<u8> {
    let mut key = vec![SQL_PREFIX, TABLE_TAG];
    key.extend_from_slice(&table.to_be_bytes());
    key
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    atoll_types::keys::prefix_end(prefix)
}

/// The span of every key with this prefix, `[prefix, prefix_end)`.
pub fn prefix_span(prefix: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let end = prefix_end(&prefix);
    (prefix, end)
}

/// Appends the order-preserving encoding of `value` to `key`.
pub fn encode_key_value(key: &mut Vec<u8>, value: &ScalarValue) -> Result<()> {
    if value.is_null() {
        key.push(0x00);
        return Ok(());
    }
    key.push(0x01);
    let int = |key: &mut Vec<u8>, v: i64| key.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
    match value {
        ScalarValue::Boolean(Some(v)) => key.push(*v as u8),
        ScalarValue::Int16(Some(v)) => int(key, *v as i64),
        ScalarValue::Int32(Some(v)) => int(key, *v as i64),
        ScalarValue::Int64(Some(v)) => int(key, *v),
        ScalarValue::Date32(Some(v)) => int(key, *v as i64),
        ScalarValue::TimestampMicrosecond(Some(v), _) => int(key, *v),
        ScalarValue::Float32(Some(v)) => encode_float(key, *v as f64),
        ScalarValue::Float64(Some(v)) => encode_float(key, *v),
        ScalarValue::Decimal128(Some(v), _, _) => key.extend_from_slice(&((*v as u128) ^ (1 << 127)).to_be_bytes()),
        ScalarValue::Utf8(Some(v)) => encode_bytes(key, v.as_bytes()),
        ScalarValue::Binary(Some(v)) => encode_bytes(key, v),
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            int(key, v.months as i64);
            int(key, v.days as i64);
            int(key, v.nanoseconds);
        }
        other => return Err(SqlError::internal(format!("cannot encode {} in a key", other.data_type()))),
    }
    Ok(())
}

fn encode_float(key: &mut Vec<u8>, v: f64) {
    let v = if v == 0.0 {
        0.0
    } else if v.is_nan() {
        f64::NAN
    } else {
        v
    };
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
    key.extend_from_slice(&ordered.to_be_bytes());
}

fn encode_bytes(key: &mut Vec<u8>, bytes: &[u8]) {
    for byte in bytes {
        if *byte == 0 {
            key.extend_from_slice(&[0x00, 0xFF]);
        } else {
            key.push(*byte);
        }
    }
    key.extend_from_slice(&[0x00, 0x01]);
}

/// Encodes a row: a format byte, then for each column its id and value.
pub fn encode_row(columns: &[(u32, SqlType)], values: &[ScalarValue]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(16 + values.len() * 9);
    out.push(ROW_FORMAT);
    for ((id, _), value) in columns.iter().zip(values) {
        if value.is_null() {
            continue;
        }
        out.extend_from_slice(&id.to_le_bytes());
        encode_value(&mut out, value)?;
    }
    Ok(out)
}

fn encode_value(out: &mut Vec<u8>, value: &ScalarValue) -> Result<()> {
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    match value {
        ScalarValue::Boolean(Some(v)) => out.push(*v as u8),
        ScalarValue::Int16(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Int32(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Int64(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Date32(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::TimestampMicrosecond(Some(v), _) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Float32(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Float64(Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Decimal128(Some(v), _, _) => out.extend_from_slice(&v.to_le_bytes()),
        ScalarValue::Utf8(Some(v)) => bytes(out, v.as_bytes()),
        ScalarValue::Binary(Some(v)) => bytes(out, v),
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            out.extend_from_slice(&v.months.to_le_bytes());
            out.extend_from_slice(&v.days.to_le_bytes());
            out.extend_from_slice(&v.nanoseconds.to_le_bytes());
        }
        other => return Err(SqlError::internal(format!("cannot store a value of type {}", other.data_type()))),
    }
    Ok(())
}

/// Decodes a row into one value per column of `columns` (NULL for columns the row does not
/// have, such as a column added after the row was written).
pub fn decode_row(columns: &[(u32, SqlType)], mut data: &[u8]) -> Result<Vec<ScalarValue>> {
    let corrupt = || SqlError::internal("corrupt row encoding");
    let mut values: Vec<ScalarValue> =
        columns.iter().map(|(_, ty)| ScalarValue::try_from(ty.arrow_type())).collect::<Result<_, _>>()?;
    if data.first() != Some(&ROW_FORMAT) {
        return Err(corrupt());
    }
    data = &data[1..];
    while !data.is_empty() {
        let id = u32::from_le_bytes(take::<4>(&mut data).ok_or_else(corrupt)?);
        // A dropped column's values stay in old rows; its type is unknown, so its length is
        // recovered from the format: fixed widths cannot be, hence dropped columns are kept
        // in the descriptor's `dropped` list with their type (see catalog).
        let Some(position) = columns.iter().position(|(column, _)| *column == id) else {
            return Err(corrupt());
        };
        values[position] = decode_value(columns[position].1, &mut data).ok_or_else(corrupt)?;
    }
    Ok(values)
}

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_at_checked(N)?;
    *data = rest;
    head.try_into().ok()
}

fn decode_value(ty: SqlType, data: &mut &[u8]) -> Option<ScalarValue> {
    let bytes = |data: &mut &[u8]| -> Option<Vec<u8>> {
        let len = u32::from_le_bytes(take::<4>(data)?) as usize;
        let (head, rest) = data.split_at_checked(len)?;
        *data = rest;
        Some(head.to_vec())
    };
    Some(match ty {
        SqlType::Bool => ScalarValue::Boolean(Some(take::<1>(data)?[0] != 0)),
        SqlType::Int2 => ScalarValue::Int16(Some(i16::from_le_bytes(take(data)?))),
        SqlType::Int4 => ScalarValue::Int32(Some(i32::from_le_bytes(take(data)?))),
        SqlType::Int8 => ScalarValue::Int64(Some(i64::from_le_bytes(take(data)?))),
        SqlType::Date => ScalarValue::Date32(Some(i32::from_le_bytes(take(data)?))),
        SqlType::Timestamp => ScalarValue::TimestampMicrosecond(Some(i64::from_le_bytes(take(data)?)), None),
        SqlType::TimestampTz => {
            ScalarValue::TimestampMicrosecond(Some(i64::from_le_bytes(take(data)?)), Some("+00:00".into()))
        }
        SqlType::Float4 => ScalarValue::Float32(Some(f32::from_le_bytes(take(data)?))),
        SqlType::Float8 => ScalarValue::Float64(Some(f64::from_le_bytes(take(data)?))),
        SqlType::Numeric { precision, scale } => {
            ScalarValue::Decimal128(Some(i128::from_le_bytes(take(data)?)), precision, scale)
        }
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Uuid | SqlType::Jsonb => {
            ScalarValue::Utf8(Some(String::from_utf8(bytes(data)?).ok()?))
        }
        SqlType::Bytea => ScalarValue::Binary(Some(bytes(data)?)),
        SqlType::Interval => {
            let months = i32::from_le_bytes(take(data)?);
            let days = i32::from_le_bytes(take(data)?);
            let nanos = i64::from_le_bytes(take(data)?);
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(months, days, nanos)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[ScalarValue]) -> Vec<u8> {
        let mut key = Vec::new();
        for value in values {
            encode_key_value(&mut key, value).unwrap();
        }
        key
    }

    #[test]
    fn key_order_is_value_order() {
        let ints = [i64::MIN, -5, -1, 0, 1, 42, i64::MAX].map(|v| key(&[ScalarValue::Int64(Some(v))]));
        assert!(ints.windows(2).all(|w| w[0] < w[1]));
        let floats =
            [f64::NEG_INFINITY, -2.5, -0.0, 0.5, 3.0, f64::INFINITY].map(|v| key(&[ScalarValue::Float64(Some(v))]));
        assert!(floats.windows(2).all(|w| w[0] < w[1]));
        let texts = ["", "a", "a\0", "a\0b", "ab", "b"].map(|v| key(&[ScalarValue::Utf8(Some(v.into()))]));
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
        // NULL sorts first, and a string prefix does not run into the next column.
        assert!(key(&[ScalarValue::Int64(None)]) < key(&[ScalarValue::Int64(Some(i64::MIN))]));
        let a = key(&[ScalarValue::Utf8(Some("a".into())), ScalarValue::Utf8(Some("z".into()))]);
        let ab = key(&[ScalarValue::Utf8(Some("ab".into())), ScalarValue::Utf8(Some("a".into()))]);
        assert!(a < ab);
    }

    #[test]
    fn rows_round_trip_and_missing_columns_are_null() {
        let columns = vec![(1, SqlType::Int8), (2, SqlType::Text), (3, SqlType::Numeric { precision: 10, scale: 2 })];
        let values =
            vec![ScalarValue::Int64(Some(7)), ScalarValue::Utf8(None), ScalarValue::Decimal128(Some(1234), 10, 2)];
        let encoded = encode_row(&columns, &values).unwrap();
        assert_eq!(decode_row(&columns, &encoded).unwrap(), values);
        let wider = [columns.clone(), vec![(4, SqlType::Bool)]].concat();
        assert_eq!(decode_row(&wider, &encoded).unwrap()[3], ScalarValue::Boolean(None));
        assert!(decode_row(&columns, &encoded[..encoded.len() - 1]).is_err());
    }
}
