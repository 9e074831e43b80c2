//! Arithmetic functions registered in place of DataFusion's where PostgreSQL answers otherwise.
//!
//! `round` of a `float8` with no places rounds half to even in PostgreSQL (it calls `rint`:
//! `round(4.5::float8)` is 4, `round(5.5::float8)` is 6); DataFusion rounds half away from
//! zero (5). `numeric` rounds half away from zero in both, and the other forms are DataFusion's.

use datafusion::arrow::array::{AsArray, Float32Array, Float64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, Float32Type, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Registers Atoll's `round` over DataFusion's.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Round { inner: datafusion::functions::math::round() }));
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
        let numerics: Vec<String> =
            (0..batch.num_rows()).map(|row| ScalarValue::try_from_array(batch.column(1), row).unwrap().to_string()).collect();
        assert_eq!(numerics, ["5", "3", "-5", "6", "0"]);
        // A scalar argument takes the same path.
        let scalar = ctx.sql("SELECT round(CAST(4.5 AS DOUBLE))").await.unwrap().collect().await.unwrap();
        assert_eq!(scalar[0].column(0).as_primitive::<Float64Type>().value(0), 4.0);
    }
}
