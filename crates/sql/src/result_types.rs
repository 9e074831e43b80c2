//! The types a result's columns are announced with, and sent in.
//!
//! A logical plan's schema is built before DataFusion's type coercion runs: in
//! `CASE WHEN c THEN 1 ELSE 2.5 END` or `SELECT 1 UNION SELECT 2.5` it says integer where the
//! values computed are numeric, and a client told `int4` then got `1.0` (psycopg failed on it;
//! in binary, the bytes of another type). Results are announced with the types of the analyzed
//! plan (the ones the values have) under the logical plan's names.
//!
//! PostgreSQL has no unsigned integers: DataFusion's `row_number()`, `rank()`, `ntile()` and
//! `array_length()` give `UInt64`, which was sent as `numeric`; PostgreSQL answers `bigint`
//! (its counting functions) and such values fit one. Unsigned columns are sent as `bigint`,
//! converted with a check (a value past `bigint` is 22003, not a wrapped number).

use crate::error::{code, Result, SqlError};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use std::sync::Arc;

/// `names`' column names with `types`' types (the two schemas of one result, column for column),
/// each type as it is sent (see [`sent_type`]).
pub fn merged(names: &Schema, types: &Schema) -> SchemaRef {
    assert_eq!(names.fields().len(), types.fields().len(), "a plan's analysis changed its column count");
    let fields: Vec<Field> = names
        .fields()
        .iter()
        .zip(types.fields())
        .map(|(named, typed)| {
            let field = Field::new(named.name(), sent_type(typed.data_type()), typed.is_nullable());
            // A column's declared type (`varchar`) rides on its field's metadata.
            field.with_metadata(typed.metadata().clone())
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, names.metadata().clone()))
}

/// The columns `plan` answers with, as execution announces them: its names, with the types
/// DataFusion's analysis (type coercion) gives them.
pub fn analyzed(state: &SessionState, plan: &LogicalPlan) -> Result<SchemaRef> {
    let analyzed = state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    Ok(merged(plan.schema().as_arrow(), analyzed.schema().as_arrow()))
}

/// The type a column of `data_type` is sent as: unsigned integers as `bigint`.
pub fn sent_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        other => other.clone(),
    }
}

/// `batches` with the columns of `schema`'s types (unsigned columns converted with a check).
pub fn conform(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let options = CastOptions { safe: false, ..Default::default() };
    batches
        .into_iter()
        .map(|batch| {
            let same = batch.schema().fields().iter().zip(schema.fields()).all(|(a, b)| a.data_type() == b.data_type());
            if same {
                return Ok(batch);
            }
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| {
                    if column.data_type() == field.data_type() {
                        return Ok(column.clone());
                    }
                    cast_with_options(column, field.data_type(), &options).map_err(|_| {
                        SqlError::new(
                            code::NUMERIC_OUT_OF_RANGE,
                            format!("bigint out of range in column {}", field.name()),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(SqlError::internal)
        })
        .collect()
}
