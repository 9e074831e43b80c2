//! `to_char(timestamp | date, pattern)` with PostgreSQL's patterns.
//!
//! DataFusion's `to_char` takes chrono's `%Y-%m-%d`; given PostgreSQL's `YYYY-MM-DD` it returned
//! the pattern itself. This one reads PostgreSQL's template patterns: `YYYY YY MM DD DDD D Q
//! HH24 HH12 HH MI SS MS US AM PM am pm TZ tz`, month and day names (`MONTH Month month MON Mon
//! mon DAY Day day DY Dy dy`, full names padded to 9 characters), the `FM` prefix (no padding),
//! `"quoted"` text; any other character is copied. Other patterns (`IYYY`, `WW`, `J`, ...) are
//! not read and come out as written. `to_char` of a number is not supported (0A000).

use crate::error::{code, SqlError};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use std::sync::Arc;

/// The `to_char` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    signature: Signature,
}

impl ToChar {
    pub fn new() -> ToChar {
        ToChar { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let value_type = args.args[0].data_type();
        let zoned = match &value_type {
            DataType::Timestamp(_, zone) => zone.is_some(),
            DataType::Date32 | DataType::Date64 | DataType::Null => false,
            other => {
                let message = format!("to_char of {other} is not supported (only of dates and timestamps)");
                return Err(DataFusionError::External(Box::new(SqlError::new(code::FEATURE_NOT_SUPPORTED, message))));
            }
        };
        let values = cast(&args.args[0].to_array(rows)?, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let values = values.as_primitive::<TimestampMicrosecondType>();
        let patterns = cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let patterns = patterns.as_string::<i32>();
        let out: StringArray = (0..rows)
            .map(|row| {
                if values.is_null(row) || patterns.is_null(row) {
                    return None;
                }
                let time = datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(values.value(row))?;
                Some(render(&time, zoned, patterns.value(row)))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The patterns read, longest first where one starts another. `true`: matched in any case.
const PATTERNS: &[(&str, bool)] = &[
    ("MONTH", false),
    ("Month", false),
    ("month", false),
    ("HH24", true),
    ("HH12", true),
    ("YYYY", true),
    ("DAY", false),
    ("Day", false),
    ("day", false),
    ("MON", false),
    ("Mon", false),
    ("mon", false),
    ("DDD", true),
    ("DY", false),
    ("Dy", false),
    ("dy", false),
    ("HH", true),
    ("MI", true),
    ("SS", true),
    ("MS", true),
    ("US", true),
    ("YY", true),
    ("MM", true),
    ("DD", true),
    ("AM", false),
    ("PM", false),
    ("am", false),
    ("pm", false),
    ("TZ", false),
    ("tz", false),
    ("D", true),
    ("Q", true),
];

/// `time` written out by PostgreSQL's template `pattern`.
fn render(time: &NaiveDateTime, zoned: bool, pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (text, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            out.push_str(text);
            rest = after;
            continue;
        }
        let (fill, body) = match rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            Some(body) => (false, body),
            None => (true, rest),
        };
        let found = PATTERNS.iter().find(|(name, any_case)| {
            body.get(..name.len())
                .is_some_and(|head| if *any_case { head.eq_ignore_ascii_case(name) } else { head == *name })
        });
        match found {
            Some((name, _)) => {
                out.push_str(&field(time, zoned, name, fill));
                rest = &body[name.len()..];
            }
            None => {
                let mut chars = rest.chars();
                out.extend(chars.next());
                rest = chars.as_str();
            }
        }
    }
    out
}

/// One pattern's text; `fill` pads numbers with zeros and full names with spaces to 9.
fn field(time: &NaiveDateTime, zoned: bool, name: &str, fill: bool) -> String {
    let number = |value: i64, width: usize| if fill { format!("{value:0width$}") } else { value.to_string() };
    let word = |text: String, full: bool| if fill && full { format!("{text:<9}") } else { text };
    let hour12 = match time.hour() % 12 {
        0 => 12,
        hour => hour,
    };
    let meridiem = if time.hour() < 12 { "AM" } else { "PM" };
    match name.to_ascii_uppercase().as_str() {
        "YYYY" => number(i64::from(time.year()), 4),
        "YY" => number(i64::from(time.year().rem_euclid(100)), 2),
        "MM" => number(i64::from(time.month()), 2),
        "DD" => number(i64::from(time.day()), 2),
        "DDD" => number(i64::from(time.ordinal()), 3),
        "D" => number(i64::from(time.weekday().number_from_sunday()), 1),
        "Q" => number(i64::from((time.month() - 1) / 3 + 1), 1),
        "HH24" => number(i64::from(time.hour()), 2),
        "HH12" | "HH" => number(i64::from(hour12), 2),
        "MI" => number(i64::from(time.minute()), 2),
        "SS" => number(i64::from(time.second()), 2),
        "MS" => number(i64::from(time.nanosecond() / 1_000_000), 3),
        "US" => number(i64::from(time.nanosecond() / 1_000), 6),
        "AM" | "PM" if name.starts_with(|c: char| c.is_ascii_lowercase()) => meridiem.to_ascii_lowercase(),
        "AM" | "PM" => meridiem.to_string(),
        "TZ" if zoned => {
            if name == "tz" {
                "utc".into()
            } else {
                "UTC".into()
            }
        }
        "TZ" => String::new(),
        "MONTH" | "MON" => word(cased(&time.format("%B").to_string(), name, name.len() == 5), name.len() == 5),
        "DAY" | "DY" => word(cased(&time.format("%A").to_string(), name, name.len() == 3), name.len() == 3),
        _ => name.to_string(),
    }
}

/// `english` (a full name) cased as `pattern` is (`MONTH`, `Month`, `month`), cut to 3
/// characters unless `full`.
fn cased(english: &str, pattern: &str, full: bool) -> String {
    let text: String = if full { english.to_string() } else { english.chars().take(3).collect() };
    if pattern.chars().all(|c| c.is_ascii_uppercase()) {
        text.to_ascii_uppercase()
    } else if pattern.chars().all(|c| c.is_ascii_lowercase()) {
        text.to_ascii_lowercase()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each expected text was read off PostgreSQL 15 (`to_char` of the same timestamp, UTC).
    #[test]
    fn patterns_read_as_postgresql_reads_them() {
        let time = NaiveDateTime::parse_from_str("2024-03-05 07:08:09.123456", "%Y-%m-%d %H:%M:%S%.f").unwrap();
        let cases = [
            ("YYYY-MM-DD HH24:MI:SS", "2024-03-05 07:08:09"),
            ("DD Mon YYYY", "05 Mar 2024"),
            ("Month|Day|FMMonth|FMDay|", "March    |Tuesday  |March|Tuesday|"),
            ("HH12:MI AM pm", "07:08 AM am"),
            ("yyyy-mm-dd\"T\"hh24:mi:ss.US", "2024-03-05T07:08:09.123456"),
            ("MS Q DDD D YY dy DY MON mon", "123 1 065 3 24 tue TUE MAR mar"),
            ("FMDD FMMM FMHH12", "5 3 7"),
            ("HH:MI:SS.MS TZ", "07:08:09.123 "),
        ];
        for (pattern, expected) in cases {
            assert_eq!(render(&time, false, pattern), expected, "{pattern}");
        }
        assert_eq!(render(&time, true, "TZ"), "UTC");
        let afternoon = NaiveDateTime::parse_from_str("2024-12-31 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(render(&afternoon, false, "HH12 PM DDD"), "12 PM 366");
    }
}
