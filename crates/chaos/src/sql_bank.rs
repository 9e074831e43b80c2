//! The bank through SQL: the same invariant as [`crate::bank`], with accounts in a SQL table
//! on the cluster's PostgreSQL endpoints. Transfers are explicit transactions (BEGIN, read
//! both balances, UPDATE both, COMMIT); snapshot reads are one `SELECT` of every account.

use crate::bank::BankRead;
use crate::elle::TxnOutcome;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// How long one statement may take before the client gives up on it (and its connection).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
const THINK_TIME: Duration = Duration::from_millis(5);

/// TLS with root's certificate towards a secure cluster (`atoll chaos --secure`); unset, the
/// clients connect without TLS as `chaos`. Set once per process, before the workload starts.
static CLIENT_TLS: std::sync::OnceLock<tokio_postgres_rustls::MakeRustlsConnect> = std::sync::OnceLock::new();

/// Makes the SQL clients of this process log in as root with `certs` (root's certificate).
pub fn use_tls(certs: &atoll_security::ClientCerts) -> Result<(), String> {
    let config = certs.rustls().map_err(|e| e.to_string())?;
    CLIENT_TLS
        .set(tokio_postgres_rustls::MakeRustlsConnect::new((*config).clone()))
        .map_err(|_| "the SQL workload's TLS identity was set already".to_string())
}

async fn connect(address: &str) -> Option<Client> {
    let (host, port) = address.split_once(':')?;
    match CLIENT_TLS.get() {
        Some(tls) => {
            let config = format!("host={host} port={port} user=root dbname=postgres connect_timeout=2 sslmode=require");
            spawned(tokio_postgres::connect(&config, tls.clone())).await
        }
        None => {
            let config = format!("host={host} port={port} user=chaos dbname=postgres connect_timeout=2");
            spawned(tokio_postgres::connect(&config, NoTls)).await
        }
    }
}

/// The client of a connection being made, its connection driven by a task of its own.
async fn spawned<C>(
    connecting: impl std::future::Future<Output = Result<(Client, C), tokio_postgres::Error>>,
) -> Option<Client>
where
    C: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    let (client, connection) = tokio::time::timeout(STATEMENT_TIMEOUT, connecting).await.ok()?.ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(client)
}

/// Whether an error means the transaction certainly did not commit.
fn certainly_aborted(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        // Serialization failures, constraint violations, aborted transactions: all decided
        // before anything was written. "Storage unavailable" on COMMIT is ambiguous.
        Some(db) => !db.code().code().starts_with("08") && !db.code().code().starts_with("XX"),
        None => false,
    }
}

async fn transfer(client: &Client, from: usize, to: usize, amount: i64) -> TxnOutcome {
    let run = async {
        client.batch_execute("BEGIN").await.map_err(|e| (e, false))?;
        let balance = |id: usize| async move {
            let row = client.query_one("SELECT balance FROM bank WHERE id = $1", &[&(id as i64)]).await?;
            Ok::<i64, tokio_postgres::Error>(row.get(0))
        };
        let from_balance = balance(from).await.map_err(|e| (e, false))?;
        let to_balance = balance(to).await.map_err(|e| (e, false))?;
        if from_balance < amount {
            let _ = client.batch_execute("ROLLBACK").await;
            return Ok(false);
        }
        let set = "UPDATE bank SET balance = $1 WHERE id = $2";
        client.execute(set, &[&(from_balance - amount), &(from as i64)]).await.map_err(|e| (e, false))?;
        client.execute(set, &[&(to_balance + amount), &(to as i64)]).await.map_err(|e| (e, false))?;
        client.batch_execute("COMMIT").await.map_err(|e| (e, true))?;
        Ok(true)
    };
    match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
        Ok(Ok(true)) => TxnOutcome::Committed,
        Ok(Ok(false)) => TxnOutcome::Aborted,
        Ok(Err((error, at_commit))) => {
            // A failed COMMIT has ended the transaction already (a ROLLBACK would only get
            // PostgreSQL's "there is no transaction in progress" warning).
            if !at_commit {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            if !at_commit || certainly_aborted(&error) {
                TxnOutcome::Aborted
            } else {
                TxnOutcome::Unknown
            }
        }
        Err(_) => TxnOutcome::Unknown,
    }
}

async fn snapshot(client: &Client, accounts: usize, started: Instant) -> Option<BankRead> {
    let rows = tokio::time::timeout(STATEMENT_TIMEOUT, client.query("SELECT id, balance FROM bank ORDER BY id", &[]))
        .await
        .ok()?
        .ok()?;
    let mut balances = vec![None; accounts];
    for row in rows {
        let id: i64 = row.get(0);
        if let Some(slot) = balances.get_mut(id as usize) {
            *slot = Some(row.get::<_, i64>(1));
        }
    }
    Some(BankRead { at_ms: started.elapsed().as_millis() as u64, balances })
}

/// Creates the accounts, then runs `clients` clients over the SQL endpoints for `duration`.
/// Returns the snapshot reads and (committed, aborted, unknown) transfer counts.
pub async fn run(
    endpoints: Vec<String>,
    clients: usize,
    accounts: usize,
    initial: i64,
    duration: Duration,
    seed: u64,
) -> Result<(Vec<BankRead>, (usize, usize, usize)), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let setup = async {
            let client = connect(&endpoints[0]).await.ok_or("cannot connect")?;
            let values: Vec<String> = (0..accounts).map(|i| format!("({i}, {initial})")).collect();
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS bank (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL); \
                 INSERT INTO bank VALUES {} ON CONFLICT (id) DO NOTHING",
                values.join(", ")
            );
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        };
        match setup.await {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => return Err(format!("bank setup failed: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let started = Instant::now();
    let tally = Arc::new(crate::bank::Tally::default());
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let endpoint = endpoints[client_index % endpoints.len()].clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ (client_index as u64 + 11).wrapping_mul(0x9e3779b97f4a7c15));
            let mut client: Option<Client> = None;
            while started.elapsed() < duration {
                if client.as_ref().is_none_or(|c| c.is_closed()) {
                    client = connect(&endpoint).await;
                    if client.is_none() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
                let Some(connection) = client.as_ref() else { continue };
                if rng.random_bool(0.3) {
                    match snapshot(connection, accounts, started).await {
                        Some(read) => tally.read(read),
                        None => client = None,
                    }
                } else {
                    let from = rng.random_range(0..accounts);
                    let to = (from + rng.random_range(1..accounts)) % accounts;
                    let outcome = transfer(connection, from, to, rng.random_range(1..=10)).await;
                    if outcome == TxnOutcome::Unknown {
                        client = None;
                    }
                    tally.transfer(outcome);
                }
                tokio::time::sleep(THINK_TIME).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(tally.finish())
}
