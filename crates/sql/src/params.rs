//! Decoding bound parameters (text or binary format) into scalars of the described type.

use crate::error::{code, Result, SqlError};
use crate::server::Prepared;
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use datafusion::common::ScalarValue;
use pgwire::api::portal::Portal;
use pgwire::api::Type;

/// Microseconds and days between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

fn invalid(ty: &Type) -> SqlError {
    SqlError::new(code::INVALID_TEXT_REPRESENTATION, format!("invalid binary representation for type {}", ty.name()))
}

fn target(ty: &Type) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        Type::BYTEA => DataType::Binary,
        _ => return None,
    })
}

fn text_value(text: &str, ty: &Type) -> Result<ScalarValue> {
    let value = ScalarValue::Utf8(Some(text.to_string()));
    match (ty, target(ty)) {
        (&Type::BOOL, _) => Ok(ScalarValue::Boolean(Some(match text.trim().to_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => true,
            "f" | "false" | "n" | "no" | "off" | "0" => false,
            _ => {
                return Err(SqlError::new(
                    code::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type boolean: \"{text}\""),
                ))
            }
        }))),
        (&Type::INTERVAL, _) => crate::types::parse_interval(text),
        (&Type::NUMERIC, _) => {
            // Keep the digits exact: numeric parameters become a decimal of their own scale.
            let (value, scale) = crate::numeric::parse(text)?;
            Ok(ScalarValue::Decimal128(Some(value), 38, scale))
        }
        (_, Some(data_type)) => {
            let cast = value.cast_to(&data_type).map_err(|_| {
                SqlError::new(
                    code::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type {}: \"{text}\"", ty.name()),
                )
            })?;
            if cast.is_null() {
                return Err(SqlError::new(
                    code::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type {}: \"{text}\"", ty.name()),
                ));
            }
            Ok(cast)
        }
        (_, None) => Ok(value),
    }
}

fn binary_value(bytes: &[u8], ty: &Type) -> Result<ScalarValue> {
    let fixed = |n: usize| -> Result<&[u8]> {
        if bytes.len() == n {
            Ok(bytes)
        } else {
            Err(invalid(ty))
        }
    };
    Ok(match *ty {
        Type::BOOL => ScalarValue::Boolean(Some(fixed(1)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(2)?.try_into().map_err(|_| invalid(ty))?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| invalid(ty))?))),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| invalid(ty))?))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(4)?.try_into().map_err(|_| invalid(ty))?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(8)?.try_into().map_err(|_| invalid(ty))?))),
        Type::DATE => {
            let days = i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| invalid(ty))?);
            ScalarValue::Date32(Some(days.checked_add(PG_EPOCH_DAYS).ok_or_else(|| invalid(ty))?))
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| invalid(ty))?);
            let micros = micros.checked_add(PG_EPOCH_MICROS).ok_or_else(|| invalid(ty))?;
            let zone = (*ty == Type::TIMESTAMPTZ).then(|| "+00:00".into());
            ScalarValue::TimestampMicrosecond(Some(micros), zone)
        }
        Type::INTERVAL => {
            let b = fixed(16)?;
            let micros = i64::from_be_bytes(b[0..8].try_into().map_err(|_| invalid(ty))?);
            let days = i32::from_be_bytes(b[8..12].try_into().map_err(|_| invalid(ty))?);
            let months = i32::from_be_bytes(b[12..16].try_into().map_err(|_| invalid(ty))?);
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                months,
                days,
                micros.saturating_mul(1000),
            )))
        }
        Type::NUMERIC => {
            let (value, scale) = crate::numeric::decode(bytes)?;
            ScalarValue::Decimal128(Some(value), 38, scale)
        }
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::UUID => {
            let b = fixed(16)?;
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            ScalarValue::Utf8(Some(format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )))
        }
        Type::JSONB => {
            let text = bytes.strip_prefix(&[1]).ok_or_else(|| invalid(ty))?;
            ScalarValue::Utf8(Some(String::from_utf8(text.to_vec()).map_err(|_| invalid(ty))?))
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            ScalarValue::Utf8(Some(String::from_utf8(bytes.to_vec()).map_err(|_| invalid(ty))?))
        }
        _ => return Err(SqlError::unsupported(format!("binary parameters of type {}", ty.name()))),
    })
}

/// The parameters bound to a portal.
pub fn decode(portal: &Portal<Prepared>, described: &[Type]) -> Result<Vec<ScalarValue>> {
    let mut out = Vec::with_capacity(portal.parameters.len());
    for (i, raw) in portal.parameters.iter().enumerate() {
        let ty = portal
            .statement
            .parameter_types
            .get(i)
            .cloned()
            .flatten()
            .or_else(|| described.get(i).cloned())
            .unwrap_or(Type::TEXT);
        let Some(bytes) = raw else {
            out.push(
                target(&ty).map_or(ScalarValue::Utf8(None), |t| ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)),
            );
            continue;
        };
        let value = if portal.parameter_format.is_binary(i) {
            binary_value(bytes, &ty)?
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| SqlError::new(code::INVALID_TEXT_REPRESENTATION, "invalid UTF-8 in parameter"))?;
            text_value(text, &ty)?
        };
        out.push(value);
    }
    Ok(out)
}
