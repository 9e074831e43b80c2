//! `atoll sql`: an interactive SQL shell for any Atoll (or PostgreSQL) URL, and its
//! non-interactive forms (`-e`, `-f`). The demo's shell is this shell plus cluster commands.

use atoll_security::ClientCerts;
use std::time::Instant;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

#[derive(clap::Args)]
pub struct SqlArgs {
    /// Connection URL, e.g. postgresql://root@127.0.0.1:26257/postgres. For TLS, libpq's
    /// parameters: ?sslmode=verify-full&sslrootcert=ca.crt&sslcert=client.root.crt&sslkey=...
    #[arg(long, default_value = "postgresql://atoll@127.0.0.1:26257/postgres")]
    pub url: String,
    /// A secure cluster's certificates: `ca.crt` and `client.<user>.crt` / `.key` for the
    /// URL's user (instead of the URL's ssl parameters).
    #[arg(long)]
    pub certs_dir: Option<std::path::PathBuf>,
    /// Run these statements and exit.
    #[arg(short = 'e', long = "execute")]
    pub execute: Vec<String>,
    /// Run the statements in this file and exit.
    #[arg(short = 'f', long = "file")]
    pub file: Option<std::path::PathBuf>,
}

/// libpq's TLS parameters of a URL, which tokio-postgres does not read.
#[derive(Default, Debug, PartialEq)]
struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

/// Splits libpq's TLS parameters off a `postgresql://` URL: the URL without them, and them.
fn split_tls_params(url: &str) -> (String, TlsParams) {
    let mut params = TlsParams::default();
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), params) };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "sslmode" => &mut params.mode,
            "sslrootcert" => &mut params.root_cert,
            "sslcert" => &mut params.cert,
            "sslkey" => &mut params.key,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        *slot = Some(value.to_string());
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, params)
}

/// Connects to `url`: over TLS when the URL asks for it (libpq's `sslmode`, `sslrootcert`,
/// `sslcert`, `sslkey`) or a certs directory is given, the server verified against the CA.
pub async fn connect(url: &str, certs_dir: Option<&std::path::Path>) -> Result<Client, String> {
    let cannot = |e: String| format!("cannot connect to {url}: {e}");
    let (rest, tls) = split_tls_params(url);
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| cannot(e.to_string()))?;
    let user = config.get_user().unwrap_or(atoll_security::certs::ROOT_USER).to_string();
    let certs = match (&tls.root_cert, certs_dir) {
        (Some(root), _) => {
            let identity = match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => Some((std::path::Path::new(cert), std::path::Path::new(key))),
                (None, None) => None,
                _ => return Err(cannot("give both sslcert and sslkey, or neither".into())),
            };
            Some(ClientCerts::from_files(std::path::Path::new(root), identity).map_err(|e| cannot(e.to_string()))?)
        }
        (None, Some(dir)) => Some(ClientCerts::load(dir, &user).map_err(|e| cannot(e.to_string()))?),
        (None, None) => None,
    };
    let wants_tls = !matches!(tls.mode.as_deref(), None | Some("disable") | Some("allow") | Some("prefer"));
    let client = match certs {
        Some(certs) if tls.mode.as_deref() != Some("disable") => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
                (*certs.rustls().map_err(|e| cannot(e.to_string()))?).clone(),
            );
            let (client, connection) = config.connect(tls).await.map_err(|e| cannot(describe(&e)))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        }
        None if wants_tls => {
            return Err(cannot("sslmode asks for TLS: give sslrootcert (the cluster's ca.crt) or --certs-dir".into()))
        }
        _ => {
            let (client, connection) = config.connect(NoTls).await.map_err(|e| cannot(describe(&e)))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        }
    };
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
    let client = connect(&args.url, args.certs_dir.as_deref()).await?;
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
    fn tls_parameters_come_off_the_url() {
        let url = "postgresql://root@127.0.0.1:26257/postgres?sslmode=verify-full&sslrootcert=/c/ca.crt&application_name=x&sslcert=/c/client.root.crt&sslkey=/c/client.root.key";
        let (rest, params) = split_tls_params(url);
        assert_eq!(rest, "postgresql://root@127.0.0.1:26257/postgres?application_name=x");
        let expected = TlsParams {
            mode: Some("verify-full".into()),
            root_cert: Some("/c/ca.crt".into()),
            cert: Some("/c/client.root.crt".into()),
            key: Some("/c/client.root.key".into()),
        };
        assert_eq!(params, expected);
        assert_eq!(split_tls_params("postgresql://a@h/db"), ("postgresql://a@h/db".to_string(), TlsParams::default()));
        assert_eq!(split_tls_params("postgresql://a@h/db?sslmode=disable").0, "postgresql://a@h/db");
    }

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
