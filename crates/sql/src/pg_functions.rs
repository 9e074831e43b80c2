//! PostgreSQL functions that DataFusion lacks or answers otherwise, registered in every session.
//!
//! - `round` of a `float8` with no places rounds half to even in PostgreSQL (it calls `rint`:
//!   `round(4.5::float8)` is 4, `round(5.5::float8)` is 6); DataFusion rounds half away from
//!   zero (5). `numeric` rounds half away from zero in both, and the other forms are
//!   DataFusion's.
//! - `every` is `bool_and` and `variance` is `var_samp`, under PostgreSQL's names.
//! - `gen_random_uuid()` is DataFusion's `uuid()` (a random version 4 UUID), under
//!   PostgreSQL's name.
//! - `to_char` of dates and timestamps reads PostgreSQL's patterns (`crate::to_char`).
//! - `pg_typeof(x)` names the type of `x` as PostgreSQL's `regtype` prints it (`integer`,
//!   `text`, `timestamp with time zone`), as text (PostgreSQL's result is a `regtype`).

use datafusion::arrow::array::{AsArray, Float32Array, Float64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, Float32Type, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Registers the functions (Atoll's `round` over DataFusion's).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(round().as_ref().clone());
    // PostgreSQL's names for aggregates DataFusion has under others.
    ctx.register_udaf(
        datafusion::functions_aggregate::bool_and_or::bool_and_udaf().as_ref().clone().with_aliases(["every"]),
    );
    ctx.register_udaf(
        datafusion::functions_aggregate::variance::var_samp_udaf().as_ref().clone().with_aliases(["variance"]),
    );
    ctx.register_udf(datafusion::functions::string::uuid().as_ref().clone().with_aliases(["gen_random_uuid"]));
    ctx.register_udf(ScalarUDF::new_from_impl(PgTypeof { signature: Signature::any(1, Volatility::Immutable) }));
    ctx.register_udf(ScalarUDF::new_from_impl(crate::to_char::ToChar::new()));
}

/// `pg_typeof(x)`: the name of `x`'s PostgreSQL type, as `regtype` prints it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = regtype(args.arg_fields[0].data_type());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

/// How PostgreSQL's `regtype` prints the type Atoll sends for `data_type`.
fn regtype(data_type: &DataType) -> String {
    use pgwire::api::Type;
    let element = match data_type {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            Some(field.data_type())
        }
        _ => None,
    };
    let pg = arrow_pg::datatypes::into_pg_type(element.unwrap_or(data_type)).unwrap_or(Type::TEXT);
    let name = match pg.name() {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "timetz" => "time with time zone",
        other => other,
    };
    if element.is_some() {
        format!("{name}[]")
    } else {
        name.to_string()
    }
}

/// PostgreSQL's `round`: half to even for floats, half away from zero for numerics.
pub(crate) fn round() -> Arc<ScalarUDF> {
    static ROUND: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    ROUND
        .get_or_init(|| Arc::new(ScalarUDF::new_from_impl(Round { inner: datafusion::functions::math::round() })))
        .clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Round {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() != 1 {
            return self.inner.invoke_with_args(args);
        }
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Float64(value)) => {
                ColumnarValue::Scalar(ScalarValue::Float64(value.map(f64::round_ties_even)))
            }
            ColumnarValue::Scalar(ScalarValue::Float32(value)) => {
                ColumnarValue::Scalar(ScalarValue::Float32(value.map(f32::round_ties_even)))
            }
            ColumnarValue::Array(array) if array.data_type() == &DataType::Float64 => {
                let rounded: Float64Array = array.as_primitive::<Float64Type>().unary(f64::round_ties_even);
                ColumnarValue::Array(Arc::new(rounded))
            }
            ColumnarValue::Array(array) if array.data_type() == &DataType::Float32 => {
                let rounded: Float32Array = array.as_primitive::<Float32Type>().unary(f32::round_ties_even);
                ColumnarValue::Array(Arc::new(rounded))
            }
            _ => return self.inner.invoke_with_args(args),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL 15's answers: `SELECT round(x::float8)` and `round(x)` (numeric).
    #[tokio::test]
    async fn floats_round_half_to_even_and_numerics_half_away_from_zero() {
        let ctx = SessionContext::new();
        register(&ctx);
        let sql = "SELECT round(CAST(x AS DOUBLE)) AS f, round(CAST(x AS DECIMAL(3, 1))) AS n \
                   FROM (VALUES (4.5), (2.5), (-4.5), (5.5), (0.4)) AS v(x)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let batch = &batches[0];
        let floats: Vec<f64> = batch.column(0).as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(floats, [4.0, 2.0, -4.0, 6.0, 0.0]);
        let numerics: Vec<String> = (0..batch.num_rows())
            .map(|row| ScalarValue::try_from_array(batch.column(1), row).unwrap().to_string())
            .collect();
        assert_eq!(numerics, ["5", "3", "-5", "6", "0"]);
        // A scalar argument takes the same path.
        let scalar = ctx.sql("SELECT round(CAST(4.5 AS DOUBLE))").await.unwrap().collect().await.unwrap();
        assert_eq!(scalar[0].column(0).as_primitive::<Float64Type>().value(0), 4.0);
    }

    /// PostgreSQL 15's `pg_typeof` for the same types (written as casts: this context has no
    /// literal typing).
    #[tokio::test]
    async fn pg_typeof_names_types_as_regtype_prints_them_and_gen_random_uuid_is_a_uuid() {
        let ctx = SessionContext::new();
        register(&ctx);
        // (Aliased: DataFusion's own names of these leave the casts out and would be equal.)
        let sql =
            "SELECT pg_typeof(CAST(1 AS INT)) a, pg_typeof(CAST(1 AS BIGINT)) b, pg_typeof(CAST(1 AS DOUBLE)) c, \
                   pg_typeof('x') d, pg_typeof(true) e, pg_typeof(CAST(1.5 AS DECIMAL(10, 2))) f, \
                   pg_typeof(CAST('2024-01-01' AS DATE)) g, pg_typeof(CAST(NULL AS INT[])) h, gen_random_uuid()";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let row: Vec<String> =
            batches[0].columns().iter().map(|c| ScalarValue::try_from_array(c, 0).unwrap().to_string()).collect();
        assert_eq!(
            row[..8],
            ["integer", "bigint", "double precision", "text", "boolean", "numeric", "date", "integer[]"]
        );
        let uuid = &row[8];
        assert!(uuid.len() == 36 && uuid.chars().nth(14) == Some('4'), "a version 4 UUID: {uuid}");
    }
}
