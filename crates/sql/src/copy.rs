//! COPY ... FROM STDIN in PostgreSQL's text and CSV formats.

use crate::error::{code, Result, SqlError};
use crate::session::{Output, Session};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{self, CopyLegacyOption, CopyOption, CopySource, CopyTarget};

/// A COPY FROM STDIN in progress: its target and the data received so far.
#[derive(Debug, Clone)]
pub struct CopyIn {
    pub table: ast::ObjectName,
    pub columns: Vec<ast::ObjectName>,
    delimiter: char,
    null: String,
    csv: bool,
    header: bool,
    pub data: Vec<u8>,
}

impl CopyIn {
    /// The COPY a statement starts, or an error for the forms not supported.
    pub fn from_statement(statement: &ast::Statement) -> Result<CopyIn> {
        let ast::Statement::Copy { source, to, target, options, legacy_options, .. } = statement else {
            return Err(SqlError::internal("not a COPY"));
        };
        let CopySource::Table { table_name, columns } = source else {
            return Err(SqlError::unsupported("COPY (query)"));
        };
        if *to || !matches!(target, CopyTarget::Stdin) {
            return Err(SqlError::unsupported("COPY other than FROM STDIN"));
        }
        let mut copy = CopyIn {
            table: table_name.clone(),
            columns: columns.iter().map(|c| ast::ObjectName::from(vec![c.clone()])).collect(),
            delimiter: '\t',
            null: "\\N".into(),
            csv: false,
            header: false,
            data: Vec::new(),
        };
        for option in options {
            match option {
                CopyOption::Format(format) => match format.value.to_lowercase().as_str() {
                    "text" => {}
                    "csv" => {
                        copy.csv = true;
                        copy.delimiter = ',';
                        copy.null = String::new();
                    }
                    other => return Err(SqlError::unsupported(format!("COPY format {other}"))),
                },
                CopyOption::Delimiter(c) => copy.delimiter = *c,
                CopyOption::Null(null) => copy.null = null.clone(),
                CopyOption::Header(header) => copy.header = *header,
                CopyOption::Freeze(_) | CopyOption::Encoding(_) => {}
                other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
            }
        }
        for option in legacy_options {
            match option {
                CopyLegacyOption::Delimiter(c) => copy.delimiter = *c,
                CopyLegacyOption::Null(null) => copy.null = null.clone(),
                other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
            }
        }
        Ok(copy)
    }

    /// The rows received, each field a text value or NULL.
    pub fn rows(&self) -> Result<Vec<Vec<Option<ScalarValue>>>> {
        let text = std::str::from_utf8(&self.data)
            .map_err(|_| SqlError::new(code::INVALID_TEXT_REPRESENTATION, "COPY data is not valid UTF-8"))?;
        let mut rows = Vec::new();
        for (number, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line == "\\." || (self.header && number == 0) {
                continue;
            }
            let fields = if self.csv { self.csv_fields(line) } else { self.text_fields(line)? };
            rows.push(
                fields.into_iter().map(|f| Some(f.map_or(ScalarValue::Null, |s| ScalarValue::Utf8(Some(s))))).collect(),
            );
        }
        Ok(rows)
    }

    fn text_fields(&self, line: &str) -> Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        for raw in line.split(self.delimiter) {
            if raw == self.null {
                out.push(None);
                continue;
            }
            let mut value = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    value.push(c);
                    continue;
                }
                match chars.next() {
                    Some('t') => value.push('\t'),
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('b') => value.push('\u{8}'),
                    Some('f') => value.push('\u{c}'),
                    Some('v') => value.push('\u{b}'),
                    Some(other) => value.push(other),
                    None => {
                        return Err(SqlError::new(code::INVALID_TEXT_REPRESENTATION, "COPY line ends with a backslash"))
                    }
                }
            }
            out.push(Some(value));
        }
        Ok(out)
    }

    fn csv_fields(&self, line: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => {
                    quoted = !quoted;
                    was_quoted = true;
                }
                c if c == self.delimiter && !quoted => {
                    out.push(if !was_quoted && field == self.null { None } else { Some(std::mem::take(&mut field)) });
                    field.clear();
                    was_quoted = false;
                }
                c => field.push(c),
            }
        }
        out.push(if !was_quoted && field == self.null { None } else { Some(field) });
        out
    }
}

impl Session {
    /// Inserts the rows of a finished COPY.
    pub(crate) async fn copy_rows(&mut self, copy: &CopyIn) -> Result<Output> {
        let rows = copy.rows()?;
        let count = self.insert_values(&copy.table, &copy.columns, rows).await?;
        Ok(Output::count("COPY", count))
    }
}
