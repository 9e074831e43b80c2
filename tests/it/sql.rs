//! SQL over the PostgreSQL wire protocol against a live 3-node cluster: the `.slt` files in
//! tests/slt (run by the sqllogictest crate through tokio-postgres, one database per file), and
//! behaviours a script cannot express (concurrent transactions, the extended protocol).

use crate::cluster::TestCluster;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use std::path::PathBuf;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A client error as the `.slt` files match it: `<SQLSTATE>: <message>`.
#[derive(Debug)]
pub struct SqlFailure(String);

impl std::fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlFailure {}

fn failure(error: tokio_postgres::Error) -> SqlFailure {
    match error.as_db_error() {
        Some(db) => SqlFailure(format!("{}: {}", db.code().code(), db.message())),
        None => SqlFailure(format!("client: {error}")),
    }
}

pub async fn must_connect(address: &str, database: &str) -> Client {
    let (host, port) = address.split_once(':').expect("host:port");
    let config = format!("host={host} port={port} user=atoll dbname={database} connect_timeout=10");
    let (client, connection) =
        tokio_postgres::connect(&config, NoTls).await.expect("connect over the PostgreSQL protocol");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

struct Slt {
    client: Client,
}

#[async_trait::async_trait]
impl AsyncDB for Slt {
    type Error = SqlFailure;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlFailure> {
        let messages = self.client.simple_query(sql).await.map_err(failure)?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(description) => columns = Some(description.len()),
                SimpleQueryMessage::Row(row) => {
                    columns = Some(row.len());
                    rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(columns) => Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; columns], rows }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files_pass_over_the_wire() {
    let cluster = TestCluster::must_start(3).await;
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    for (i, file) in files.iter().enumerate() {
        let database = format!("slt_{}", file.file_stem().and_then(|s| s.to_str()).expect("file name"));
        // Spread the files over the nodes: every node serves SQL for the whole cluster.
        let address = cluster.nodes[i % cluster.nodes.len()].sql.clone();
        let admin = must_connect(&address, "postgres").await;
        admin.simple_query(&format!("CREATE DATABASE {database}")).await.expect("create the file's database");
        let mut runner = sqllogictest::Runner::new(move || {
            let (address, database) = (address.clone(), database.clone());
            async move { Ok(Slt { client: must_connect(&address, &database).await }) }
        });
        runner.with_column_validator(sqllogictest::default_column_validator);
        if let Err(error) = runner.run_file_async(file).await {
            panic!("{}: {}\n(logs in {})", file.display(), error.display(true), cluster.dir.path().display());
        }
    }
}
