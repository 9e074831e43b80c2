//! Hostile SQL clients: statements meant to hurt a node, mixed into a normal workload while the
//! nemesis injects faults (issue 19). Each hostile client loops over a seeded choice of
//! [`Attack`]s and checks that the node answered as promised: the right SQLSTATE, or, when
//! the nemesis has the node down, a connection failure. The run's verdict (in the CLI) adds
//! that no node exited on its own and that the normal workload's checker holds.

use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// How long one attack may take before the client gives up on it; past this an attack that
/// should have been stopped by the node counts as a surprise.
const ATTACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between attacks of one client, so that the normal workload still gets the cores.
const THINK_TIME: Duration = Duration::from_millis(200);
/// A cross join of two million-row series: minutes of CPU unless something stops it.
const CROSS_JOIN: &str = "SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b";

/// One kind of hostile statement or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attack {
    /// 3 000 OR terms, as an ORM builds them: answered.
    LongOrChain,
    /// Brackets nested past the depth limit: 54001.
    TooDeep,
    /// A 2 GB `repeat`: 54000.
    HugeValue,
    /// A cross join under a 300 ms `statement_timeout`: 57014.
    RunawayWithTimeout,
    /// A cross join whose client vanishes after 300 ms: the node stops it (not observed here;
    /// it must not take the node down).
    RunawayThenVanish,
    /// A truncated Bind message: FATAL 08P01.
    MalformedBind,
    /// A 38-digit decimal selected in text: answered exactly.
    WideDecimal,
    /// An open transaction idle past `idle_in_transaction_session_timeout`: the session ends.
    IdleInTransaction,
}

const ATTACKS: [Attack; 8] = [
    Attack::LongOrChain,
    Attack::TooDeep,
    Attack::HugeValue,
    Attack::RunawayWithTimeout,
    Attack::RunawayThenVanish,
    Attack::MalformedBind,
    Attack::WideDecimal,
    Attack::IdleInTransaction,
];

/// What became of the attacks.
#[derive(Debug, Default)]
pub struct Tally {
    /// Attacks answered as promised, by kind.
    pub answered: std::collections::BTreeMap<Attack, usize>,
    /// Attacks that met a node the nemesis had down (connection failures): no verdict.
    pub unreachable: usize,
    /// Attacks answered otherwise than promised: each is a finding.
    pub surprises: Vec<String>,
}

/// The verdict of one attack.
enum Outcome {
    AsPromised,
    Unreachable,
    Surprise(String),
}

async fn connect(address: &str) -> Option<Client> {
    let (host, port) = address.split_once(':')?;
    let config = format!("host={host} port={port} user=hostile dbname=postgres connect_timeout=2");
    let (client, connection) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&config, NoTls)).await.ok()?.ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(client)
}

/// Runs `sql` and compares its SQLSTATE with `expected` (`None`: success).
async fn expect(client: &Client, sql: &str, expected: Option<&str>) -> Outcome {
    let result = client.simple_query(sql).await;
    let state = match &result {
        Ok(_) => None,
        Err(error) => match error.as_db_error() {
            Some(db) => Some(db.code().code().to_string()),
            None => return Outcome::Unreachable,
        },
    };
    match (state.as_deref(), expected) {
        (got, want) if got == want => Outcome::AsPromised,
        // Faults can fail any statement: no leader, node stopping, serialization.
        (Some(code), _) if code.starts_with("08") || code == "40001" || code == "57P01" => Outcome::Unreachable,
        (got, want) => {
            Outcome::Surprise(format!("{}: expected {want:?}, got {got:?} ({result:?})", &sql[..sql.len().min(60)]))
        }
    }
}

/// A truncated Bind over a raw socket; the answer must carry 08P01.
fn malformed_bind(address: &str) -> Outcome {
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return Outcome::Unreachable };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let parameters = b"user\0hostile\0database\0postgres\0\0";
    let mut bytes = (8 + parameters.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&196_608i32.to_be_bytes());
    bytes.extend_from_slice(parameters);
    bytes.extend_from_slice(b"B\0\0\0\x0c\0nope\0\0\0");
    if stream.write_all(&bytes).is_err() {
        return Outcome::Unreachable;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    if text.contains("08P01") {
        Outcome::AsPromised
    } else if answer.is_empty() {
        Outcome::Unreachable
    } else {
        Outcome::Surprise(format!("truncated Bind: no 08P01 in {text:?}"))
    }
}

async fn attack(kind: Attack, address: &str) -> Outcome {
    if kind == Attack::MalformedBind {
        let address = address.to_string();
        return tokio::task::spawn_blocking(move || malformed_bind(&address)).await.unwrap_or(Outcome::Unreachable);
    }
    let Some(client) = connect(address).await else { return Outcome::Unreachable };
    match kind {
        Attack::LongOrChain => {
            let terms: Vec<String> = (0..3000).map(|i| format!("x = {i}")).collect();
            let sql = format!("SELECT count(*) FROM generate_series(1, 10) t(x) WHERE {}", terms.join(" OR "));
            expect(&client, &sql, None).await
        }
        Attack::TooDeep => {
            let depth = 100_001;
            expect(&client, &format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth)), Some("54001")).await
        }
        Attack::HugeValue => expect(&client, "SELECT length(repeat('x', 2000000000))", Some("54000")).await,
        Attack::RunawayWithTimeout => match expect(&client, "SET statement_timeout = '300ms'", None).await {
            Outcome::AsPromised => expect(&client, CROSS_JOIN, Some("57014")).await,
            other => other,
        },
        Attack::RunawayThenVanish => {
            let running = tokio::spawn(async move { client.simple_query(CROSS_JOIN).await.map(|_| ()) });
            tokio::time::sleep(Duration::from_millis(300)).await;
            // Dropping the client (inside the task) closes its socket mid-statement.
            running.abort();
            Outcome::AsPromised
        }
        Attack::WideDecimal => {
            match client.simple_query("SELECT 9000000000000000000000000000.0000000000::numeric(38,10)").await {
                Ok(messages) => {
                    let text = messages.iter().find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                        _ => None,
                    });
                    if text.as_deref() == Some("9000000000000000000000000000.0000000000") {
                        Outcome::AsPromised
                    } else {
                        Outcome::Surprise(format!("wide decimal came back as {text:?}"))
                    }
                }
                Err(error) if error.as_db_error().is_none() => Outcome::Unreachable,
                Err(error) => Outcome::Surprise(format!("wide decimal: {error}")),
            }
        }
        Attack::IdleInTransaction => {
            let setup = "SET idle_in_transaction_session_timeout = '300ms'; BEGIN; SELECT 1";
            if let Err(error) = client.batch_execute(setup).await {
                return if error.as_db_error().is_none() {
                    Outcome::Unreachable
                } else {
                    Outcome::Surprise(error.to_string())
                };
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while !client.is_closed() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if client.is_closed() {
                Outcome::AsPromised
            } else {
                Outcome::Surprise("a session idle in its transaction was not ended".into())
            }
        }
        Attack::MalformedBind => unreachable!("handled above"),
    }
}

/// Runs `clients` hostile clients against the SQL `endpoints` for `duration`.
pub async fn run(endpoints: Vec<String>, clients: usize, duration: Duration, seed: u64) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..clients {
        let endpoint = endpoints[index % endpoints.len()].clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ (index as u64 + 101).wrapping_mul(0x9e3779b97f4a7c15));
            while started.elapsed() < duration {
                let kind = ATTACKS[rng.random_range(0..ATTACKS.len())];
                let outcome = tokio::time::timeout(ATTACK_TIMEOUT, attack(kind, &endpoint))
                    .await
                    .unwrap_or_else(|_| Outcome::Surprise(format!("{kind:?} got no answer within {ATTACK_TIMEOUT:?}")));
                {
                    let mut tally = tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    match outcome {
                        Outcome::AsPromised => *tally.answered.entry(kind).or_default() += 1,
                        Outcome::Unreachable => tally.unreachable += 1,
                        Outcome::Surprise(what) => tally.surprises.push(format!("{kind:?} on {endpoint}: {what}")),
                    }
                }
                tokio::time::sleep(THINK_TIME).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut tally = tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut *tally)
}
