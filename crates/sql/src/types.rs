//! SQL column types: how a declared PostgreSQL type maps to an Arrow type for the query engine,
//! how it is named back to clients, and how a value is checked and coerced into a column.

use crate::error::{code, Result, SqlError};
use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{self, CharacterLength, ExactNumberInfo, TimezoneInfo};
use serde::{Deserialize, Serialize};

/// Precision and scale of `numeric` without a declared precision.
pub const NUMERIC_DEFAULT: (u8, i8) = (38, 10);

/// Most digits of a `numeric` column: its values are Arrow `Decimal128`s.
const COLUMN_PRECISION_MAX: u8 = 38;

/// A column type, as stored in a table descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlType {
    Int2,
    Int4,
    Int8,
    Bool,
    Float4,
    Float8,
    Numeric { precision: u8, scale: i8 },
    Text,
    Varchar(Option<u32>),
    Char(u32),
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Jsonb,
}

/// A column declared `serial`, `bigserial` or `smallserial`: its type and that it takes its
/// default from a sequence.
pub struct Declared {
    pub ty: SqlType,
    pub serial: bool,
}

impl SqlType {
    /// The type a column declaration names.
    pub fn from_ast(data_type: &ast::DataType) -> Result<Declared> {
        use ast::DataType as D;
        let plain = |ty| Ok(Declared { ty, serial: false });
        match data_type {
            D::SmallInt(_) | D::Int2(_) => plain(SqlType::Int2),
            D::Int(_) | D::Integer(_) | D::Int4(_) => plain(SqlType::Int4),
            D::BigInt(_) | D::Int8(_) => plain(SqlType::Int8),
            D::Boolean | D::Bool => plain(SqlType::Bool),
            D::Real | D::Float4 => plain(SqlType::Float4),
            D::Float8 | D::DoublePrecision | D::Double(_) => plain(SqlType::Float8),
            D::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => plain(SqlType::Float4),
            D::Float(_) => plain(SqlType::Float8),
            D::Numeric(info) | D::Decimal(info) | D::Dec(info) => {
                // Checked before it is narrowed: `numeric(300, 2)` must not become 44 digits.
                crate::literals::check_numeric_type(data_type, u64::from(COLUMN_PRECISION_MAX))?;
                let (precision, scale) = match info {
                    ExactNumberInfo::None => NUMERIC_DEFAULT,
                    ExactNumberInfo::Precision(p) => (*p as u8, 0),
                    ExactNumberInfo::PrecisionAndScale(p, s) => (*p as u8, *s as i8),
                };
                plain(SqlType::Numeric { precision, scale })
            }
            D::Text | D::String(_) => plain(SqlType::Text),
            D::Varchar(length) | D::CharacterVarying(length) | D::CharVarying(length) => {
                plain(SqlType::Varchar(char_length(length)?))
            }
            D::Char(length) | D::Character(length) => plain(SqlType::Char(char_length(length)?.unwrap_or(1))),
            D::Bytea => plain(SqlType::Bytea),
            D::Date => plain(SqlType::Date),
            D::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => plain(SqlType::TimestampTz),
            D::Timestamp(..) | D::Datetime(_) => plain(SqlType::Timestamp),
            D::Interval { .. } => plain(SqlType::Interval),
            D::Uuid => plain(SqlType::Uuid),
            D::JSONB | D::JSON => plain(SqlType::Jsonb),
            D::Custom(name, modifiers) if modifiers.is_empty() => {
                let name = name.to_string().to_lowercase();
                let serial = |ty| Ok(Declared { ty, serial: true });
                match name.as_str() {
                    "serial" | "serial4" => serial(SqlType::Int4),
                    "bigserial" | "serial8" => serial(SqlType::Int8),
                    "smallserial" | "serial2" => serial(SqlType::Int2),
                    "timestamptz" => plain(SqlType::TimestampTz),
                    "bpchar" => plain(SqlType::Char(1)),
                    _ => Err(SqlError::new(code::UNDEFINED_OBJECT, format!("type \"{name}\" does not exist"))),
                }
            }
            other => Err(SqlError::unsupported(format!("type {other}"))),
        }
    }

    /// The Arrow type the query engine sees.
    pub fn arrow_type(&self) -> DataType {
        match self {
            SqlType::Int2 => DataType::Int16,
            SqlType::Int4 => DataType::Int32,
            SqlType::Int8 => DataType::Int64,
            SqlType::Bool => DataType::Boolean,
            SqlType::Float4 => DataType::Float32,
            SqlType::Float8 => DataType::Float64,
            SqlType::Numeric { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Uuid | SqlType::Jsonb => DataType::Utf8,
            SqlType::Bytea => DataType::Binary,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        }
    }

    /// A table column of this type as an Arrow field: `varchar` and `char(n)` columns, text in
    /// Arrow, carry their PostgreSQL type in the field's metadata so that results announce it
    /// ([`declared_text_type`]); DataFusion keeps a field's metadata through column references,
    /// and an expression over the column (`upper(v)`, `v || 'x'`, a cast) is `text`, as in
    /// PostgreSQL.
    pub fn field(&self, name: &str) -> Field {
        match self {
            SqlType::Varchar(_) | SqlType::Char(_) => text_field_of_type(name, &self.pg_type()),
            _ => Field::new(name, self.arrow_type(), true),
        }
    }

    /// The name PostgreSQL gives the type (`format_type`), for `\d` and information_schema.
    pub fn pg_name(&self) -> String {
        match self {
            SqlType::Int2 => "smallint".into(),
            SqlType::Int4 => "integer".into(),
            SqlType::Int8 => "bigint".into(),
            SqlType::Bool => "boolean".into(),
            SqlType::Float4 => "real".into(),
            SqlType::Float8 => "double precision".into(),
            SqlType::Numeric { precision, scale } => format!("numeric({precision},{scale})"),
            SqlType::Text => "text".into(),
            SqlType::Varchar(None) => "character varying".into(),
            SqlType::Varchar(Some(n)) => format!("character varying({n})"),
            SqlType::Char(n) => format!("character({n})"),
            SqlType::Bytea => "bytea".into(),
            SqlType::Date => "date".into(),
            SqlType::Timestamp => "timestamp without time zone".into(),
            SqlType::TimestampTz => "timestamp with time zone".into(),
            SqlType::Interval => "interval".into(),
            SqlType::Uuid => "uuid".into(),
            SqlType::Jsonb => "jsonb".into(),
        }
    }

    /// The PostgreSQL type oid.
    pub fn pg_oid(&self) -> u32 {
        self.pg_type().oid()
    }

    pub fn pg_type(&self) -> pgwire::api::Type {
        use pgwire::api::Type;
        match self {
            SqlType::Int2 => Type::INT2,
            SqlType::Int4 => Type::INT4,
            SqlType::Int8 => Type::INT8,
            SqlType::Bool => Type::BOOL,
            SqlType::Float4 => Type::FLOAT4,
            SqlType::Float8 => Type::FLOAT8,
            SqlType::Numeric { .. } => Type::NUMERIC,
            SqlType::Text => Type::TEXT,
            SqlType::Varchar(_) => Type::VARCHAR,
            SqlType::Char(_) => Type::BPCHAR,
            SqlType::Bytea => Type::BYTEA,
            SqlType::Date => Type::DATE,
            SqlType::Timestamp => Type::TIMESTAMP,
            SqlType::TimestampTz => Type::TIMESTAMPTZ,
            SqlType::Interval => Type::INTERVAL,
            SqlType::Uuid => Type::UUID,
            SqlType::Jsonb => Type::JSONB,
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, SqlType::Int2 | SqlType::Int4 | SqlType::Int8)
    }

    /// Converts `value` to this type for storing in column `column`, with PostgreSQL's errors
    /// for values that do not fit.
    pub fn coerce(&self, value: &ScalarValue, column: &str) -> Result<ScalarValue> {
        if value.is_null() {
            return ScalarValue::try_from(self.arrow_type()).map_err(SqlError::from);
        }
        if let (true, Some(int)) = (self.is_integer(), integer_value(value)) {
            let (min, max, name) = match self {
                SqlType::Int2 => (i16::MIN as i128, i16::MAX as i128, "smallint"),
                SqlType::Int4 => (i32::MIN as i128, i32::MAX as i128, "integer"),
                _ => (i64::MIN as i128, i64::MAX as i128, "bigint"),
            };
            if int < min || int > max {
                return Err(SqlError::new(code::NUMERIC_OUT_OF_RANGE, format!("{name} out of range")));
            }
        }
        let target = self.arrow_type();
        let text_input = matches!(value, ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_));
        let mut coerced = match (self, value) {
            (SqlType::Bool, ScalarValue::Utf8(Some(text))) => ScalarValue::Boolean(Some(parse_bool(text)?)),
            (SqlType::Interval, ScalarValue::Utf8(Some(text))) => parse_interval(text)?,
            (SqlType::Uuid, _) => ScalarValue::Utf8(Some(parse_uuid(&value.to_string())?)),
            (SqlType::Jsonb, _) => {
                let text = value.to_string();
                let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    SqlError::new(code::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type json: {e}"))
                })?;
                ScalarValue::Utf8(Some(json.to_string()))
            }
            (SqlType::Bytea, ScalarValue::Utf8(Some(text))) => ScalarValue::Binary(Some(parse_bytea(text)?)),
            (SqlType::Timestamp | SqlType::TimestampTz, ScalarValue::Utf8(Some(text))) => {
                let text = timestamp_with_seconds(text).unwrap_or_else(|| text.clone());
                ScalarValue::Utf8(Some(text)).cast_to(&target).map_err(|_| {
                    SqlError::new(
                        code::INVALID_DATETIME_FORMAT,
                        format!("invalid input syntax for type {}: \"{value}\"", self.pg_name()),
                    )
                })?
            }
            _ => value.cast_to(&target).map_err(|e| {
                let message = e.to_string();
                if message.to_lowercase().contains("overflow") || message.contains("too large") {
                    SqlError::new(code::NUMERIC_OUT_OF_RANGE, format!("value out of range for column \"{column}\""))
                } else if text_input {
                    SqlError::new(
                        code::INVALID_TEXT_REPRESENTATION,
                        format!("invalid input syntax for type {}: \"{value}\"", self.pg_name()),
                    )
                } else {
                    SqlError::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "column \"{column}\" is of type {} but expression is of type {}",
                            self.pg_name(),
                            value.data_type()
                        ),
                    )
                }
            })?,
        };
        if coerced.is_null() {
            // Arrow's cast turns unparsable text into NULL rather than failing.
            return Err(SqlError::new(
                code::INVALID_TEXT_REPRESENTATION,
                format!("invalid input syntax for type {}: \"{value}\"", self.pg_name()),
            ));
        }
        match (self, &mut coerced) {
            (SqlType::Varchar(Some(n)), ScalarValue::Utf8(Some(text))) if text.chars().count() > *n as usize => {
                return Err(SqlError::new(
                    code::STRING_DATA_RIGHT_TRUNCATION,
                    format!("value too long for type character varying({n})"),
                ));
            }
            (SqlType::Char(n), ScalarValue::Utf8(Some(text))) => {
                let trimmed = text.trim_end_matches(' ');
                let length = trimmed.chars().count();
                if length > *n as usize {
                    return Err(SqlError::new(
                        code::STRING_DATA_RIGHT_TRUNCATION,
                        format!("value too long for type character({n})"),
                    ));
                }
                *text = format!("{trimmed}{}", " ".repeat(*n as usize - length));
            }
            (SqlType::Float4 | SqlType::Float8, ScalarValue::Float64(Some(v))) if v.is_infinite() && !text_input => {
                return Err(SqlError::new(code::NUMERIC_OUT_OF_RANGE, "value out of range: overflow"));
            }
            _ => {}
        }
        Ok(coerced)
    }
}

fn char_length(length: &Option<CharacterLength>) -> Result<Option<u32>> {
    match length {
        None | Some(CharacterLength::Max) => Ok(None),
        Some(CharacterLength::IntegerLength { length, .. }) => {
            if *length == 0 || *length > 10_485_760 {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    "length for type varchar must be 1..10485760",
                ));
            }
            Ok(Some(*length as u32))
        }
    }
}

fn integer_value(value: &ScalarValue) -> Option<i128> {
    match value {
        ScalarValue::Int8(Some(v)) => Some(*v as i128),
        ScalarValue::Int16(Some(v)) => Some(*v as i128),
        ScalarValue::Int32(Some(v)) => Some(*v as i128),
        ScalarValue::Int64(Some(v)) => Some(*v as i128),
        ScalarValue::UInt64(Some(v)) => Some(*v as i128),
        ScalarValue::Float64(Some(v)) if v.is_finite() => Some(v.round() as i128),
        ScalarValue::Decimal128(Some(v), _, scale) => Some(v / 10i128.pow(*scale as u32)),
        _ => None,
    }
}

fn parse_bool(text: &str) -> Result<bool> {
    match text.trim().to_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
        _ => Err(SqlError::new(
            code::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type boolean: \"{text}\""),
        )),
    }
}

fn parse_uuid(text: &str) -> Result<String> {
    let hex: String = text.trim().trim_start_matches('{').trim_end_matches('}').chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(SqlError::new(
            code::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type uuid: \"{text}\""),
        ));
    }
    let hex = hex.to_lowercase();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

fn parse_bytea(text: &str) -> Result<Vec<u8>> {
    let invalid = || SqlError::new(code::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type bytea");
    if let Some(hex) = text.strip_prefix("\\x") {
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return Err(invalid());
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| invalid()))
            .collect();
    }
    Ok(text.as_bytes().to_vec())
}

/// The metadata key of a text field's declared PostgreSQL type (its oid).
const PG_TYPE_METADATA: &str = "atoll.pg_type";

/// A nullable text field that results announce as `pg_type` (one of the text types
/// [`declared_text_type`] takes).
pub fn text_field_of_type(name: &str, pg_type: &pgwire::api::Type) -> Field {
    let metadata = std::collections::HashMap::from([(PG_TYPE_METADATA.to_string(), pg_type.oid().to_string())]);
    Field::new(name, DataType::Utf8, true).with_metadata(metadata)
}

/// The PostgreSQL type a text field was declared with (`varchar`, `char(n)`, and the catalogs'
/// `name` and `"char"`), if not `text`. Their values are the same text in both formats.
pub fn declared_text_type(field: &Field) -> Option<pgwire::api::Type> {
    use pgwire::api::Type;
    if field.data_type() != &DataType::Utf8 {
        return None;
    }
    let oid = field.metadata().get(PG_TYPE_METADATA)?.parse().ok()?;
    Type::from_oid(oid).filter(|t| [Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::CHAR].contains(t))
}

/// `text` with `:00` seconds added when it is a timestamp written to the minute
/// (`2024-01-02 10:00`, `2024-01-02T10:00+02`), which PostgreSQL takes and Arrow's parser does
/// not; `None` when it has seconds or is not such a timestamp.
pub fn timestamp_with_seconds(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    let date = bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() });
    if !date || !matches!(bytes.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let hours = bytes[11..].iter().take_while(|b| b.is_ascii_digit()).count();
    let colon = 11 + hours;
    let minutes_end = colon + 3;
    let minutes = (1..=2).contains(&hours)
        && bytes.get(colon) == Some(&b':')
        && bytes.get(colon + 1..minutes_end).is_some_and(|m| m.iter().all(u8::is_ascii_digit));
    if !minutes || !matches!(bytes.get(minutes_end), None | Some(b'+' | b'-' | b'Z' | b'z' | b' ')) {
        return None;
    }
    Some(format!("{}:00{}", &trimmed[..minutes_end], &trimmed[minutes_end..]))
}

/// Parses PostgreSQL interval input such as `1 day 02:00:00`, `3 hours`, `1 year 2 mons`.
pub fn parse_interval(text: &str) -> Result<ScalarValue> {
    use datafusion::arrow::datatypes::IntervalMonthDayNano;
    let invalid =
        || SqlError::new(code::INVALID_DATETIME_FORMAT, format!("invalid input syntax for type interval: \"{text}\""));
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i128);
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if word.contains(':') {
            let negative = word.starts_with('-');
            let parts: Vec<&str> = word.trim_start_matches('-').split(':').collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(invalid());
            }
            let hours: i128 = parts[0].parse().map_err(|_| invalid())?;
            let minutes: i128 = parts[1].parse().map_err(|_| invalid())?;
            let seconds: f64 = parts.get(2).map_or(Ok(0.0), |s| s.parse()).map_err(|_| invalid())?;
            let total = hours * 3_600_000_000_000 + minutes * 60_000_000_000 + (seconds * 1e9).round() as i128;
            nanos += if negative { -total } else { total };
            i += 1;
            continue;
        }
        let amount: f64 = word.parse().map_err(|_| invalid())?;
        let unit = words.get(i + 1).ok_or_else(invalid)?.to_lowercase();
        let unit = unit.trim_end_matches(',');
        match unit.trim_end_matches('s') {
            "year" | "yr" | "y" => months += (amount * 12.0) as i64,
            "mon" | "month" => months += amount as i64,
            "week" | "w" => days += (amount * 7.0) as i64,
            "day" | "d" => days += amount as i64,
            "hour" | "hr" | "h" => nanos += (amount * 3.6e12) as i128,
            "minute" | "min" | "m" => nanos += (amount * 6e10) as i128,
            "second" | "sec" | "" => nanos += (amount * 1e9) as i128,
            "millisecond" | "ms" => nanos += (amount * 1e6) as i128,
            _ => return Err(invalid()),
        }
        i += 2;
    }
    let nanos = i64::try_from(nanos).map_err(|_| SqlError::new(code::NUMERIC_OUT_OF_RANGE, "interval out of range"))?;
    Ok(ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
        i32::try_from(months).map_err(|_| invalid())?,
        i32::try_from(days).map_err(|_| invalid())?,
        nanos,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_out_of_range_are_22003() {
        let error = SqlType::Int2.coerce(&ScalarValue::Int64(Some(40_000)), "c").unwrap_err();
        assert_eq!(error.code, code::NUMERIC_OUT_OF_RANGE);
        assert_eq!(SqlType::Int2.coerce(&ScalarValue::Int64(Some(7)), "c").unwrap(), ScalarValue::Int16(Some(7)));
    }

    #[test]
    fn bad_text_is_22p02_and_long_text_is_22001() {
        let error = SqlType::Int4.coerce(&ScalarValue::Utf8(Some("abc".into())), "c").unwrap_err();
        assert_eq!(error.code, code::INVALID_TEXT_REPRESENTATION);
        let error = SqlType::Varchar(Some(3)).coerce(&ScalarValue::Utf8(Some("abcd".into())), "c").unwrap_err();
        assert_eq!(error.code, code::STRING_DATA_RIGHT_TRUNCATION);
        let padded = SqlType::Char(4).coerce(&ScalarValue::Utf8(Some("ab".into())), "c").unwrap();
        assert_eq!(padded, ScalarValue::Utf8(Some("ab  ".into())));
    }

    #[test]
    fn uuid_and_json_are_normalized() {
        let uuid = SqlType::Uuid.coerce(&ScalarValue::Utf8(Some("A0EEBC999C0B4EF8BB6D6BB9BD380A11".into())), "c");
        assert_eq!(uuid.unwrap(), ScalarValue::Utf8(Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())));
        let json = SqlType::Jsonb.coerce(&ScalarValue::Utf8(Some("{ \"a\" : 1 }".into())), "c").unwrap();
        assert_eq!(json, ScalarValue::Utf8(Some("{\"a\":1}".into())));
        assert!(SqlType::Jsonb.coerce(&ScalarValue::Utf8(Some("{".into())), "c").is_err());
    }

    #[test]
    fn bytea_hex_input_is_checked() {
        let bytes = SqlType::Bytea.coerce(&ScalarValue::Utf8(Some("\\x0aff".into())), "c").unwrap();
        assert_eq!(bytes, ScalarValue::Binary(Some(vec![0x0a, 0xff])));
        for bad in ["\\x0", "\\xzz", "\\xaé9"] {
            let error = SqlType::Bytea.coerce(&ScalarValue::Utf8(Some(bad.into())), "c").unwrap_err();
            assert_eq!(error.code, code::INVALID_TEXT_REPRESENTATION, "{bad}");
        }
    }

    #[test]
    fn intervals_parse() {
        use datafusion::arrow::datatypes::IntervalMonthDayNano;
        let value = parse_interval("1 year 2 mons 3 days 04:05:06").unwrap();
        let nanos = ((4 * 3600 + 5 * 60 + 6) as i64) * 1_000_000_000;
        assert_eq!(value, ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(14, 3, nanos))));
    }
}
