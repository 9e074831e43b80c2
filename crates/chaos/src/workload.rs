//! Client workloads through the etcd API that record what they did and saw.

use crate::history::{Action, History, Operation, Outcome};
use atoll_proto::etcdserverpb::kv_client::KvClient;
use atoll_proto::etcdserverpb::{compare, request_op, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long one request may take before its outcome is recorded as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Pause between one client's requests, so that a few clients do not saturate 2 cores.
const THINK_TIME: Duration = Duration::from_millis(5);

/// The client certificate the workloads present to a secure cluster (`atoll chaos --secure`);
/// unset, they speak plain HTTP/2. Set once per process, before the workload starts: every
/// workload client of a run talks to the one cluster.
static CLIENT_TLS: std::sync::OnceLock<tonic::transport::ClientTlsConfig> = std::sync::OnceLock::new();

/// Makes the workloads of this process connect with TLS and `certs`'s identity.
pub fn use_tls(certs: &atoll_security::ClientCerts) -> Result<(), String> {
    CLIENT_TLS.set(certs.grpc()).map_err(|_| "the workloads' TLS identity was set already".to_string())
}

fn client_for(endpoint: &str) -> Result<KvClient<Channel>, String> {
    let endpoint = atoll_security::grpc_endpoint(endpoint, CLIENT_TLS.get().cloned(), Duration::from_millis(500))?
        .timeout(REQUEST_TIMEOUT);
    Ok(KvClient::new(endpoint.connect_lazy()))
}

/// How long the clients use one set of register keys before moving to fresh ones. Short
/// per-key histories keep the linearizability search tractable: its cost grows exponentially
/// with the number of concurrent operations of unknown outcome on one key (Jepsen's
/// "independent keys" for the same reason).
const KEY_EPOCH: Duration = Duration::from_secs(2);

fn register_key(epoch: u64, index: usize) -> String {
    format!("register/{epoch:05}/{index}")
}

async fn read(client: &mut KvClient<Channel>, key: &str) -> Outcome {
    let request = RangeRequest { key: key.as_bytes().to_vec(), ..Default::default() };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.range(request)).await {
        Ok(Ok(response)) => {
            let value = response.into_inner().kvs.first().map(|kv| String::from_utf8_lossy(&kv.value).parse::<u64>());
            match value {
                None => Outcome::Read(None),
                Some(Ok(v)) => Outcome::Read(Some(v)),
                // A value this workload never writes: report it as read so the checker flags it.
                Some(Err(_)) => Outcome::Read(Some(u64::MAX)),
            }
        }
        // A failed read has no effect on the register.
        _ => Outcome::Failed,
    }
}

async fn write(client: &mut KvClient<Channel>, key: &str, value: u64) -> Outcome {
    let request =
        PutRequest { key: key.as_bytes().to_vec(), value: value.to_string().into_bytes(), ..Default::default() };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.put(request)).await {
        Ok(Ok(_)) => Outcome::Written,
        Ok(Err(status)) => write_failure(Ok(status)),
        Err(elapsed) => write_failure(Err(elapsed)),
    }
}

/// Whether a failed write definitely did not take effect. Only errors raised before the
/// request could reach the Raft log count, or after its fate was decided: a refused
/// connection, "no leader" (answered before proposing), "dropped and not applied" (an entry of
/// a later term was applied first), overload and invalid requests. Timeouts, a bare "leader
/// changed" and broken connections stay unknown: the write may still be applied.
fn definitely_failed(status: &tonic::Status) -> bool {
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::OutOfRange
        | Code::ResourceExhausted
        | Code::FailedPrecondition => true,
        Code::Unavailable => {
            let message = status.message();
            message.contains("no leader")
                || message.contains("dropped and not applied")
                || message.contains("tcp connect error")
                || message.contains("Connection refused")
        }
        _ => false,
    }
}

fn write_failure(result: Result<tonic::Status, tokio::time::error::Elapsed>) -> Outcome {
    match result {
        Ok(status) if definitely_failed(&status) => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

async fn cas(client: &mut KvClient<Channel>, key: &str, expected: u64, new: u64) -> Outcome {
    let put = PutRequest { key: key.as_bytes().to_vec(), value: new.to_string().into_bytes(), ..Default::default() };
    let request = TxnRequest {
        compare: vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Value as i32,
            key: key.as_bytes().to_vec(),
            range_end: vec![],
            target_union: Some(compare::TargetUnion::Value(expected.to_string().into_bytes())),
        }],
        success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
        failure: vec![],
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.txn(request)).await {
        Ok(Ok(response)) => Outcome::Cas(response.into_inner().succeeded),
        Ok(Err(status)) => write_failure(Ok(status)),
        Err(elapsed) => write_failure(Err(elapsed)),
    }
}

/// Registers: `clients` clients, each bound to one endpoint, doing random reads, writes and
/// compare-and-sets on `keys` keys for `duration`. Written values are unique per run.
pub async fn registers(endpoints: Vec<String>, clients: usize, keys: usize, duration: Duration, seed: u64) -> History {
    let started = Instant::now();
    let operations = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let endpoint = endpoints[client_index % endpoints.len()].clone();
        let operations = operations.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut client) = client_for(&endpoint) else { return };
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ (client_index as u64).wrapping_mul(0x9e3779b97f4a7c15));
            let mut last_seen: BTreeMap<String, u64> = BTreeMap::new();
            let mut counter = 0u64;
            while started.elapsed() < duration {
                let epoch = (started.elapsed().as_millis() / KEY_EPOCH.as_millis()) as u64;
                let key = register_key(epoch, rng.random_range(0..keys));
                counter += 1;
                let unique = ((client_index as u64 + 1) << 32) | counter;
                let choice = rng.random_range(0..10);
                let action = match choice {
                    0..=3 => Action::Read,
                    4..=6 => Action::Write(unique),
                    _ => Action::Cas { expected: last_seen.get(&key).copied().unwrap_or(0), new: unique },
                };
                let invoked = started.elapsed();
                let outcome = match &action {
                    Action::Read => read(&mut client, &key).await,
                    Action::Write(value) => write(&mut client, &key, *value).await,
                    Action::Cas { expected, new } => cas(&mut client, &key, *expected, *new).await,
                };
                let completed = started.elapsed();
                match (&action, &outcome) {
                    (Action::Read, Outcome::Read(Some(value))) => drop(last_seen.insert(key.clone(), *value)),
                    (Action::Write(value), Outcome::Written) => drop(last_seen.insert(key.clone(), *value)),
                    (Action::Cas { new, .. }, Outcome::Cas(true)) => drop(last_seen.insert(key.clone(), *new)),
                    _ => {}
                }
                let operation = Operation { client: client_index, key, action, invoked, completed, outcome };
                if let Ok(mut operations) = operations.lock() {
                    operations.push(operation);
                }
                tokio::time::sleep(THINK_TIME).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let operations = operations.lock().map(|ops| ops.clone()).unwrap_or_default();
    History { operations }
}

/// Unique-key writes for the durability check: returns every acknowledged key and value.
pub async fn unique_writes(endpoints: Vec<String>, clients: usize, duration: Duration) -> BTreeMap<String, String> {
    let started = Instant::now();
    let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let endpoint = endpoints[client_index % endpoints.len()].clone();
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut client) = client_for(&endpoint) else { return };
            let mut counter = 0u64;
            while started.elapsed() < duration {
                counter += 1;
                let key = format!("durable/{client_index:02}/{counter:08}");
                let value = format!("{client_index}-{counter}");
                if write_value(&mut client, &key, &value).await {
                    if let Ok(mut acknowledged) = acknowledged.lock() {
                        acknowledged.insert(key, value);
                    }
                }
                tokio::time::sleep(THINK_TIME).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let result = acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    result
}

async fn write_value(client: &mut KvClient<Channel>, key: &str, value: &str) -> bool {
    let request = PutRequest { key: key.as_bytes().to_vec(), value: value.as_bytes().to_vec(), ..Default::default() };
    matches!(tokio::time::timeout(REQUEST_TIMEOUT, client.put(request)).await, Ok(Ok(_)))
}

/// Keys per page when reading a whole replica: keeps each response far below gRPC's 4 MiB
/// default message limit.
const READ_PAGE_KEYS: i64 = 5_000;

/// Reads every `durable/` key from one node's local replica (serializable reads: what this
/// replica holds, not what the leader holds), a page at a time. `None` if the node does not
/// answer.
pub async fn read_replica(endpoint: &str) -> Option<BTreeMap<String, String>> {
    let mut client = client_for(endpoint).ok()?;
    let mut data = BTreeMap::new();
    let mut start = b"durable/".to_vec();
    let mut revision = 0;
    loop {
        let request = RangeRequest {
            key: start.clone(),
            range_end: b"durable0".to_vec(),
            limit: READ_PAGE_KEYS,
            revision,
            serializable: true,
            ..Default::default()
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, client.range(request)).await.ok()?.ok()?.into_inner();
        // Later pages read at the first page's revision: one consistent snapshot.
        revision = response.header.map_or(0, |h| h.revision);
        let Some(last) = response.kvs.last().map(|kv| kv.key.clone()) else { break };
        for kv in response.kvs {
            data.insert(String::from_utf8_lossy(&kv.key).into_owned(), String::from_utf8_lossy(&kv.value).into_owned());
        }
        if !response.more {
            break;
        }
        start = last;
        start.push(0);
    }
    Some(data)
}

/// Atoll's transaction API over the etcd endpoint of one node.
#[derive(Clone)]
pub struct EtcdKv {
    client: KvClient<Channel>,
}

impl EtcdKv {
    /// A client of `endpoint` (connects lazily).
    pub fn new(endpoint: &str) -> Result<Self, String> {
        Ok(EtcdKv { client: client_for(endpoint)? })
    }
}

fn kv_error(status: tonic::Status) -> atoll_kv::Error {
    use tonic::Code;
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument => atoll_kv::Error::InvalidArgument(message),
        Code::NotFound => atoll_kv::Error::NotFound(message),
        Code::OutOfRange => atoll_kv::Error::OutOfRange(message),
        Code::ResourceExhausted => atoll_kv::Error::Overloaded(message),
        _ => atoll_kv::Error::Unavailable(message),
    }
}

impl atoll_kv::transaction::KvClient for EtcdKv {
    fn txn(
        &self,
        request: TxnRequest,
    ) -> impl std::future::Future<Output = atoll_kv::Result<atoll_proto::etcdserverpb::TxnResponse>> + Send {
        let mut client = self.client.clone();
        async move { client.txn(request).await.map(|r| r.into_inner()).map_err(kv_error) }
    }

    fn range(
        &self,
        request: RangeRequest,
    ) -> impl std::future::Future<Output = atoll_kv::Result<atoll_proto::etcdserverpb::RangeResponse>> + Send {
        let mut client = self.client.clone();
        async move { client.range(request).await.map(|r| r.into_inner()).map_err(kv_error) }
    }
}

fn parse_list(value: Option<Vec<u8>>) -> Vec<u64> {
    let Some(value) = value else { return Vec::new() };
    String::from_utf8_lossy(&value)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect()
}

fn format_list(list: &[u64]) -> Vec<u8> {
    list.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(",").into_bytes()
}

/// How long the list-append clients use one set of keys: bounds list length (every read
/// returns the whole list).
const LIST_EPOCH: Duration = Duration::from_secs(5);

/// Runs one list-append transaction; returns its micro-ops (reads filled in) and outcome.
///
/// With `unvalidated` the commit is deliberately broken: the writes are sent without the
/// transaction's validation compares (what a database without conflict detection does), so
/// lost updates and write skew become possible and the checker must report them.
async fn run_list_txn(kv: &EtcdKv, mut ops: Vec<crate::elle::MicroOp>, unvalidated: bool) -> crate::elle::Txn {
    use crate::elle::{MicroOp, Txn, TxnOutcome};
    use atoll_kv::transaction::Transaction;
    let aborted = |ops| Txn { ops, outcome: TxnOutcome::Aborted };
    let Ok(Ok(mut txn)) = tokio::time::timeout(REQUEST_TIMEOUT, Transaction::begin(kv)).await else {
        return aborted(ops);
    };
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for op in ops.iter_mut() {
        let key = match op {
            MicroOp::Read(key, _) | MicroOp::Append(key, _) => key.clone(),
        };
        let Ok(Ok(current)) = tokio::time::timeout(REQUEST_TIMEOUT, txn.get(key.as_bytes())).await else {
            return aborted(ops);
        };
        let mut list = parse_list(current);
        match op {
            MicroOp::Read(_, seen) => *seen = Some(list),
            MicroOp::Append(_, element) => {
                list.push(*element);
                if txn.put(key.as_bytes(), &format_list(&list)).is_err() {
                    return aborted(ops);
                }
                written.insert(key, format_list(&list));
            }
        }
    }
    if unvalidated {
        use atoll_kv::transaction::KvClient as _;
        let success = written
            .into_iter()
            .map(|(key, value)| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: key.into_bytes(),
                    value,
                    ..Default::default()
                })),
            })
            .collect();
        let request = TxnRequest { compare: vec![], success, failure: vec![] };
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, kv.txn(request)).await {
            Ok(Ok(_)) => TxnOutcome::Committed,
            _ => TxnOutcome::Unknown,
        };
        return Txn { ops, outcome };
    }
    let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, txn.commit()).await {
        Ok(Ok(_)) => TxnOutcome::Committed,
        Ok(Err(atoll_kv::Error::Conflict)) => TxnOutcome::Aborted,
        Ok(Err(e)) if !e.is_retryable() => TxnOutcome::Aborted,
        _ => TxnOutcome::Unknown,
    };
    Txn { ops, outcome }
}

/// List-append transactions: each of `clients` clients runs transactions of 1-4 reads and
/// appends of unique elements over `keys` keys for `duration`, through Atoll's transaction API.
pub async fn list_append(
    endpoints: Vec<String>,
    clients: usize,
    keys: usize,
    duration: Duration,
    seed: u64,
    unvalidated: bool,
) -> Vec<crate::elle::Txn> {
    use crate::elle::MicroOp;
    let started = Instant::now();
    let history = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let endpoint = endpoints[client_index % endpoints.len()].clone();
        let history = history.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(kv) = EtcdKv::new(&endpoint) else { return };
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ (client_index as u64 + 1).wrapping_mul(0x9e3779b97f4a7c15));
            let mut counter = 0u64;
            while started.elapsed() < duration {
                let epoch = started.elapsed().as_millis() / LIST_EPOCH.as_millis();
                let ops: Vec<MicroOp> = (0..rng.random_range(1..=4))
                    .map(|_| {
                        let key = format!("list/{epoch:04}/{}", rng.random_range(0..keys));
                        if rng.random_bool(0.5) {
                            MicroOp::Read(key, None)
                        } else {
                            counter += 1;
                            MicroOp::Append(key, ((client_index as u64 + 1) << 32) | counter)
                        }
                    })
                    .collect();
                let txn = run_list_txn(&kv, ops, unvalidated).await;
                if let Ok(mut history) = history.lock() {
                    history.push(txn);
                }
                tokio::time::sleep(THINK_TIME).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let result = history.lock().map(|h| h.clone()).unwrap_or_default();
    result
}

fn account_key(index: usize) -> String {
    format!("bank/account/{index:03}")
}

/// The bank: `accounts` accounts holding `initial` each; clients transfer random amounts
/// between random accounts (reading both balances in the transaction) and read all accounts
/// in one snapshot transaction. Returns the snapshot reads and (committed, aborted, unknown)
/// transfer counts.
pub async fn bank(
    endpoints: Vec<String>,
    clients: usize,
    accounts: usize,
    initial: i64,
    duration: Duration,
    seed: u64,
) -> Result<(Vec<crate::bank::BankRead>, (usize, usize, usize)), String> {
    use atoll_kv::transaction::Transaction;
    let setup = EtcdKv::new(&endpoints[0])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = async {
            let mut txn = Transaction::begin(&setup).await?;
            for index in 0..accounts {
                txn.put(account_key(index).as_bytes(), initial.to_string().as_bytes())?;
            }
            txn.commit().await
        };
        match attempt.await {
            Ok(_) => break,
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
            let Ok(kv) = EtcdKv::new(&endpoint) else { return };
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ (client_index as u64 + 7).wrapping_mul(0x9e3779b97f4a7c15));
            while started.elapsed() < duration {
                if rng.random_bool(0.3) {
                    if let Some(read) = bank_read(&kv, accounts, started).await {
                        tally.read(read);
                    }
                } else {
                    let from = rng.random_range(0..accounts);
                    let to = (from + rng.random_range(1..accounts)) % accounts;
                    tally.transfer(transfer(&kv, from, to, rng.random_range(1..=10)).await);
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

async fn bank_read(kv: &EtcdKv, accounts: usize, started: Instant) -> Option<crate::bank::BankRead> {
    use atoll_kv::transaction::Transaction;
    let mut txn = tokio::time::timeout(REQUEST_TIMEOUT, Transaction::begin(kv)).await.ok()?.ok()?;
    let rows =
        tokio::time::timeout(REQUEST_TIMEOUT, txn.scan(b"bank/account/", b"bank/account0", 0)).await.ok()?.ok()?;
    let at_ms = started.elapsed().as_millis() as u64;
    let by_key: BTreeMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
    let balances = (0..accounts)
        .map(|index| by_key.get(account_key(index).as_bytes()).and_then(|v| String::from_utf8_lossy(v).parse().ok()))
        .collect();
    Some(crate::bank::BankRead { at_ms, balances })
}

async fn transfer(kv: &EtcdKv, from: usize, to: usize, amount: i64) -> crate::elle::TxnOutcome {
    use crate::elle::TxnOutcome;
    use atoll_kv::transaction::Transaction;
    let balance = |value: Option<Vec<u8>>| value.and_then(|v| String::from_utf8_lossy(&v).parse::<i64>().ok());
    let Ok(Ok(mut txn)) = tokio::time::timeout(REQUEST_TIMEOUT, Transaction::begin(kv)).await else {
        return TxnOutcome::Aborted;
    };
    let (from_key, to_key) = (account_key(from), account_key(to));
    let Ok(Ok(from_value)) = tokio::time::timeout(REQUEST_TIMEOUT, txn.get(from_key.as_bytes())).await else {
        return TxnOutcome::Aborted;
    };
    let Ok(Ok(to_value)) = tokio::time::timeout(REQUEST_TIMEOUT, txn.get(to_key.as_bytes())).await else {
        return TxnOutcome::Aborted;
    };
    let (Some(from_balance), Some(to_balance)) = (balance(from_value), balance(to_value)) else {
        return TxnOutcome::Aborted;
    };
    if from_balance < amount {
        return TxnOutcome::Aborted;
    }
    let puts = txn
        .put(from_key.as_bytes(), (from_balance - amount).to_string().as_bytes())
        .and_then(|_| txn.put(to_key.as_bytes(), (to_balance + amount).to_string().as_bytes()));
    if puts.is_err() {
        return TxnOutcome::Aborted;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, txn.commit()).await {
        Ok(Ok(_)) => TxnOutcome::Committed,
        Ok(Err(e)) if !e.is_retryable() || e == atoll_kv::Error::Conflict => TxnOutcome::Aborted,
        _ => TxnOutcome::Unknown,
    }
}
