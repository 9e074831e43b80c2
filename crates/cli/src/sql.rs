//! `atoll sql`: an interactive SQL shell for any Atoll (or PostgreSQL) URL, and its
//! non-interactive forms (`-e`, `-f`). The demo's shell is this shell plus cluster commands.

use std::time::Instant;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

#[derive(clap::Args)]
pub struct SqlArgs {
    /// Connection URL, e.g. postgresql://atoll@127.0.0.1:26257/postgres
    #[arg(long, default_value = "postgresql://atoll@127.0.0.1:26257/postgres")]
    pub url: String,
    /// Run these statements and exit.
    #[arg(short = 'e', long = "execute")]
    pub execute: Vec<String>,
    /// Run the statements in this file and exit.
    #[arg(short = 'f', long = "file")]
    pub file: Option<std::path::PathBuf>,
}

pub async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.map_err(|e| format!("cannot connect to {url}: {}", describe(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// An error as the shell prints it: the message and, for server errors, the SQLSTATE.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("ERROR: {} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("\nDETAIL: {detail}"));
            }
            text
        }
        None => error.to_string(),
    }
}

/// Prints a result set as an aligned table, as psql does.
fn print_rows(columns: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let line =
        |values: &[String]| values.iter().zip(&widths).map(|(v, w)| format!(" {v:<w$} ")).collect::<Vec<_>>().join("|");
    println!("{}", line(columns));
    println!("{}", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    for row in rows {
        println!("{}", line(row));
    }
    println!("({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" });
}

/// Runs SQL text and prints what it returned. Returns false on error.
pub async fn run(client: &Client, sql: &str, timing: bool) -> bool {
    let started = Instant::now();
    let result = client.simple_query(sql).await;
    let elapsed = started.elapsed();
    let ok = match result {
        Ok(messages) => {
            let mut columns: Vec<String> = Vec::new();
            let mut rows: Vec<Vec<String>> = Vec::new();
            for message in messages {
                match message {
                    SimpleQueryMessage::RowDescription(description) => {
                        columns = description.iter().map(|c| c.name().to_string()).collect();
                        rows.clear();
                    }
                    SimpleQueryMessage::Row(row) => {
                        rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect())
                    }
                    SimpleQueryMessage::CommandComplete(n) => {
                        if !columns.is_empty() {
                            print_rows(&columns, &rows);
                            columns.clear();
                            rows.clear();
                        } else {
                            println!("OK {n}");
                        }
                    }
                    _ => {}
                }
            }
            true
        }
        Err(error) => {
            eprintln!("{}", describe(&error));
            false
        }
    };
    if timing {
        println!("Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
    }
    ok
}

pub const HELP: &str = "\
SQL statements end with ';' and may span lines.
\\d                 list tables
\\d TABLE           describe a table's columns
\\timing            toggle printing each statement's time
\\?                 this help
\\q                 quit";

/// What a line of input asks for.
pub enum Input {
    /// A complete SQL statement (or several).
    Sql(String),
    /// A backslash command, with its words.
    Command(Vec<String>),
    /// More lines are needed to finish the statement.
    Incomplete,
}

/// Collects lines into statements: a backslash command stands alone; SQL runs at `;`.
#[derive(Default)]
pub struct LineBuffer {
    pending: String,
}

impl LineBuffer {
    pub fn push(&mut self, line: &str) -> Input {
        let trimmed = line.trim();
        if self.pending.is_empty() && trimmed.starts_with('\\') {
            return Input::Command(trimmed.split_whitespace().map(str::to_string).collect());
        }
        if !self.pending.is_empty() {
            self.pending.push('\n');
        }
        self.pending.push_str(line);
        if trimmed.ends_with(';') {
            Input::Sql(std::mem::take(&mut self.pending))
        } else {
            Input::Incomplete
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.trim().is_empty()
    }
}

/// Runs a shell backslash command that is about SQL. Returns false if it is not one.
pub async fn sql_command(client: &Client, words: &[String], timing: &mut bool) -> bool {
    match words.first().map(String::as_str) {
        Some("\\timing") => {
            *timing = !*timing;
            println!("Timing is {}.", if *timing { "on" } else { "off" });
        }
        Some("\\d") | Some("\\dt") => {
            let sql = match words.get(1) {
                Some(table) => format!("SHOW COLUMNS FROM {table}"),
                None => "SHOW TABLES".to_string(),
            };
            run(client, &sql, false).await;
        }
        _ => return false,
    }
    true
}

pub async fn main(args: SqlArgs) -> Result<(), String> {
    let client = connect(&args.url).await?;
    let mut timing = false;
    if !args.execute.is_empty() || args.file.is_some() {
        for statement in &args.execute {
            if !run(&client, statement, timing).await {
                return Err("statement failed".into());
            }
        }
        if let Some(path) = &args.file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if !run(&client, &text, timing).await {
                return Err(format!("{} failed", path.display()));
            }
        }
        return Ok(());
    }
    let mut editor = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    let history = std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".atoll_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    println!("atoll sql: connected to {}; \\? for help", args.url);
    let mut buffer = LineBuffer::default();
    loop {
        let prompt = if buffer.is_empty() { "atoll=> " } else { "atoll-> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        let _ = editor.add_history_entry(line.as_str());
        match buffer.push(&line) {
            Input::Incomplete => {}
            Input::Sql(sql) => {
                run(&client, &sql, timing).await;
            }
            Input::Command(words) => match words[0].as_str() {
                "\\q" | "\\quit" => break,
                "\\?" => println!("{HELP}"),
                _ => {
                    if !sql_command(&client, &words, &mut timing).await {
                        println!("unknown command {}; \\? for help", words[0]);
                    }
                }
            },
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_run_at_the_semicolon_and_commands_stand_alone() {
        let mut buffer = LineBuffer::default();
        assert!(matches!(buffer.push("SELECT 1,"), Input::Incomplete));
        assert!(!buffer.is_empty());
        match buffer.push("  2;") {
            Input::Sql(sql) => assert_eq!(sql, "SELECT 1,\n  2;"),
            _ => panic!("expected a statement"),
        }
        assert!(buffer.is_empty());
        match buffer.push("\\d accounts") {
            Input::Command(words) => assert_eq!(words, vec!["\\d", "accounts"]),
            _ => panic!("expected a command"),
        }
    }
}
