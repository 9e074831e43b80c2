//! Functions whose result size the caller chooses, refused before they allocate.
//!
//! `repeat('x', 2000000000)` made DataFusion allocate 2 GB and answer; PostgreSQL refuses any
//! value over 1 GB with 54000 "requested length too large". The functions that build a value
//! of a size given as an argument (`repeat`, `lpad`, `rpad`) are registered here in place of
//! DataFusion's, as wrappers that compute each row's requested size first and delegate only
//! when every row is within [`VALUE_BYTES_MAX`]. Values that grow by other means (`||`,
//! aggregates) are bounded by the statement's memory limit (see `execute`).

use crate::error::{code, SqlError};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::{cast, kernels::length::length};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Largest value one function may build, in bytes: PostgreSQL's limit on any value (1 GB).
pub const VALUE_BYTES_MAX: i64 = (1 << 30) - 1;
/// Most bytes one character takes in UTF-8 (a padded length counts characters).
const UTF8_BYTES_MAX: i64 = 4;

/// How a function's arguments give the size of the value it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Size {
    /// `repeat(string, count)`: the string's bytes times the count.
    Repeat,
    /// `lpad(string, length [, fill])`, `rpad(...)`: `length` characters.
    Pad,
}

/// Registers the bounded `repeat`, `lpad` and `rpad` in `ctx`, and the analyzer rule that keeps
/// wide decimal casts checked (`crate::decimal_casts`).
pub fn register(ctx: &SessionContext) {
    let functions = [
        (datafusion::functions::string::repeat(), Size::Repeat),
        (datafusion::functions::unicode::lpad(), Size::Pad),
        (datafusion::functions::unicode::rpad(), Size::Pad),
    ];
    for (inner, size) in functions {
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded { inner, size }));
    }
    // After DataFusion's type coercion, which makes the casts it splits.
    ctx.add_analyzer_rule(std::sync::Arc::new(crate::decimal_casts::SplitWideDecimalCasts));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    size: Size,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let requested = match self.size {
            Size::Repeat if args.args.len() == 2 => {
                let bytes = integers(&length(&args.args[0].to_array(rows)?)?)?;
                let counts = integers(&args.args[1].to_array(rows)?)?;
                largest(&bytes, &counts, |bytes, count| bytes.saturating_mul(count))
            }
            Size::Pad if args.args.len() >= 2 => {
                let characters = integers(&args.args[1].to_array(rows)?)?;
                largest(&characters, &characters, |characters, _| characters.saturating_mul(UTF8_BYTES_MAX))
            }
            _ => None,
        };
        if requested.is_some_and(|bytes| bytes > VALUE_BYTES_MAX) {
            let error = SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, "requested length too large");
            return Err(DataFusionError::External(Box::new(error)));
        }
        self.inner.invoke_with_args(args)
    }
}

fn integers(array: &ArrayRef) -> Result<Int64Array> {
    let array = cast(array, &DataType::Int64)?;
    Ok(array.as_any().downcast_ref::<Int64Array>().expect("cast to Int64").clone())
}

/// The largest `size(a, b)` over the rows where both are set (negative inputs count as 0).
fn largest(a: &Int64Array, b: &Int64Array, size: impl Fn(i64, i64) -> i64) -> Option<i64> {
    (0..a.len())
        .filter(|row| a.is_valid(*row) && b.is_valid(*row))
        .map(|row| size(a.value(row).max(0), b.value(row).max(0)))
        .max()
}
