//! `atoll chaos`: a workload plus a nemesis against a local cluster of real processes, then a
//! verdict from the checkers. Exits non-zero when the checkers find a violation.

use atoll_chaos::durability::{self, DurabilityVerdict};
use atoll_chaos::history::{History, Outcome};
use atoll_chaos::linearizability::{self, Verdict};
use atoll_chaos::local::LocalCluster;
use atoll_chaos::nemesis::{self, FaultKind};
use atoll_chaos::workload;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct ChaosArgs {
    /// What the clients do: `registers` (reads, writes and compare-and-set on a few hot keys,
    /// checked for linearizability), `list-append` (transactions of reads and appends through
    /// Atoll's transaction API, checked for serializability anomalies G0 to G2), `durability`
    /// (unique writes while nodes are killed, checked for lost writes and replica divergence),
    /// `bank` (transfers between accounts in KV transactions; every snapshot must sum to the
    /// initial total), `sql-bank` (the same bank through SQL: explicit transactions over a
    /// table, with --endpoints naming SQL addresses) or `sql-hostile` (the SQL bank plus two
    /// hostile clients sending statements and messages meant to take a node down; no node may
    /// exit on its own and every attack must be answered as promised).
    #[arg(long, default_value = "registers")]
    workload: String,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Length of the run (registers).
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Seed for the workload and the fault schedule; random (and printed) when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Faults to inject: kill, pause, isolate, isolate-leader, bridge, degrade (lossy and slow
    /// links), lag (pause a follower until it needs a snapshot), or none.
    #[arg(long, value_delimiter = ',', default_value = "kill,pause,isolate,isolate-leader,bridge,degrade")]
    nemesis: Vec<String>,
    /// Mean time between faults, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    fault_interval_ms: u64,
    /// How long each fault lasts, in milliseconds.
    #[arg(long, default_value_t = 2500)]
    fault_hold_ms: u64,
    /// Register keys (registers).
    #[arg(long, default_value_t = 4)]
    keys: usize,
    /// Concurrent clients, spread over the nodes.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// kill -9 cycles (durability).
    #[arg(long, default_value_t = 10)]
    kill_cycles: usize,
    /// Keep the cluster's data and logs.
    #[arg(long)]
    keep: bool,
    /// Run the workload against a running cluster (for example `atoll demo`) at these etcd
    /// endpoints instead of starting one. Faults are then up to you (the demo shell can kill,
    /// pause and isolate nodes), so the nemesis must be `none`.
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// The nodes' MVCC retention (`atoll start --mvcc-retention-secs`): a short one makes
    /// periodic compaction and garbage collection run during the faults.
    #[arg(long)]
    mvcc_retention_secs: Option<u64>,
    /// Start the nodes with a Raft log of 100 entries (plus 20 for a lagging follower), so any
    /// fault longer than a moment ends in a snapshot. Implied by the `lag` fault.
    #[arg(long)]
    small_raft_log: bool,
    /// Start the nodes with snapshots that leave out the MVCC history (deliberately broken),
    /// to prove the durability checker catches a replica caught up from a bad snapshot.
    #[arg(long, hide = true)]
    unsafe_snapshot_drop_history: bool,
    /// Start the nodes with SQL statements that ignore timeouts, cancels and disconnects
    /// (deliberately broken), to prove the sql-hostile checker catches it.
    #[arg(long, hide = true)]
    unsafe_ignore_statement_interrupts: bool,
    /// Start the nodes with a deliberately broken read path, to prove the checker catches it.
    #[arg(long, hide = true)]
    unsafe_stale_reads: bool,
    /// Start the nodes with a lease that counts no time (deliberately broken, as raft-rs's
    /// `LeaseBased` reads), to prove the checker catches it.
    #[arg(long, hide = true)]
    unsafe_timeless_lease: bool,
    /// list-append: commit without validation (deliberately broken), to prove the checker
    /// catches lost updates and write skew.
    #[arg(long, hide = true)]
    unsafe_unvalidated_commits: bool,
    /// Runs the cluster without TLS and authentication (as `atoll start --insecure`). By
    /// default a run is secure: certificates made for the run, mutual TLS between nodes, the
    /// workloads' clients with root's certificate, so the faults hit TLS links. sql-hostile
    /// needs it (its hostile clients speak plain pgwire).
    #[arg(long)]
    insecure: bool,
    /// Runs are secure by default; kept for the scripts written before.
    #[arg(long, hide = true, conflicts_with = "insecure")]
    secure: bool,
}

pub async fn run(args: ChaosArgs) -> Result<(), String> {
    if !(1..=9).contains(&args.nodes) {
        return Err("--nodes must be between 1 and 9".into());
    }
    let seed = args.seed.unwrap_or_else(rand_seed);
    if !args.endpoints.is_empty() {
        return run_external(&args, seed).await;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the atoll binary: {e}"))?;
    let mut extra = Vec::new();
    if args.unsafe_stale_reads {
        extra.push("--unsafe-stale-reads".to_string());
    }
    if args.unsafe_timeless_lease {
        extra.push("--unsafe-timeless-lease".to_string());
    }
    if let Some(secs) = args.mvcc_retention_secs {
        extra.extend(["--mvcc-retention-secs".to_string(), secs.to_string()]);
    }
    if args.small_raft_log || kinds(&args)?.contains(&FaultKind::Lag) {
        let small =
            ["--raft-log-entries-kept", "100", "--raft-log-lag-entries-max", "20", "--raft-log-lag-bytes-max", "65536"];
        extra.extend(small.map(String::from));
    }
    if args.unsafe_snapshot_drop_history {
        extra.push("--unsafe-snapshot-drop-history".to_string());
    }
    if args.unsafe_ignore_statement_interrupts {
        extra.push("--unsafe-ignore-statement-interrupts".to_string());
    }
    let secure = !args.insecure;
    if secure && args.workload == "sql-hostile" {
        return Err("sql-hostile's clients speak plain pgwire: run it with --insecure".into());
    }
    let mut cluster =
        LocalCluster::start_on_free_ports(exe, args.nodes, extra, secure, &mut |step| eprintln!("{step} ...")).await?;
    if let Some(certs) = cluster.certs_dir() {
        let root =
            atoll_security::ClientCerts::load(certs, atoll_security::certs::ROOT_USER).map_err(|e| e.to_string())?;
        atoll_chaos::workload::use_tls(&root)?;
        atoll_chaos::sql_bank::use_tls(&root)?;
    }
    println!("chaos: workload={} nodes={} seed={seed} dir={}", args.workload, args.nodes, cluster.root.display());
    let endpoints = cluster.etcd_endpoints();
    let result = match args.workload.as_str() {
        "registers" => registers(&args, &mut Some(&mut cluster), endpoints, seed).await,
        "durability" => durability_loop(&args, &mut cluster, seed).await,
        "list-append" => list_append(&args, &mut Some(&mut cluster), endpoints, seed).await,
        "bank" => bank(&args, &mut Some(&mut cluster), endpoints, seed).await,
        "sql-bank" => {
            let sql = cluster.nodes.iter().map(|n| n.sql.clone()).collect();
            bank_over(&args, &mut Some(&mut cluster), sql, seed, true).await
        }
        "sql-hostile" => {
            let sql = cluster.nodes.iter().map(|n| n.sql.clone()).collect();
            sql_hostile(&args, &mut Some(&mut cluster), sql, seed).await
        }
        other => Err(format!(
            "unknown workload {other:?}: use registers, list-append, bank, sql-bank, sql-hostile or durability"
        )),
    };
    print_snapshots(&cluster);
    if args.keep || result.is_err() {
        let kept = cluster.keep();
        println!("data and logs kept in {}", kept.display());
    }
    result
}

/// The workload alone, against endpoints the caller runs.
async fn run_external(args: &ChaosArgs, seed: u64) -> Result<(), String> {
    if args.nemesis.iter().any(|k| k != "none") {
        return Err(
            "with --endpoints the nemesis must be `none`: inject faults yourself (e.g. from the demo shell)".into()
        );
    }
    println!("chaos: workload={} endpoints={} seed={seed}", args.workload, args.endpoints.join(","));
    let mut none = None;
    match args.workload.as_str() {
        "registers" => registers(args, &mut none, args.endpoints.clone(), seed).await,
        "list-append" => list_append(args, &mut none, args.endpoints.clone(), seed).await,
        "bank" => bank(args, &mut none, args.endpoints.clone(), seed).await,
        "sql-bank" => bank_over(args, &mut none, args.endpoints.clone(), seed, true).await,
        "sql-hostile" => sql_hostile(args, &mut none, args.endpoints.clone(), seed).await,
        other => Err(format!(
            "workload {other:?} cannot run against --endpoints: use registers, list-append, bank, sql-bank or \
             sql-hostile (SQL addresses)"
        )),
    }
}

/// Runs the nemesis on our own cluster, or just waits out the run against external endpoints.
async fn faults_for(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    duration: Duration,
    seed: u64,
    started: Instant,
) -> Result<Vec<nemesis::FaultRecord>, String> {
    let progress = progress_bar(duration);
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                progress.set_position(started.elapsed().as_secs().min(duration.as_secs()));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let result = match cluster {
        Some(cluster) => {
            let interval = Duration::from_millis(args.fault_interval_ms);
            let hold = Duration::from_millis(args.fault_hold_ms);
            nemesis::run(cluster, &kinds(args)?, duration, interval, hold, seed, started).await
        }
        None => {
            tokio::time::sleep(duration.saturating_sub(started.elapsed())).await;
            Ok(Vec::new())
        }
    };
    ticker.abort();
    progress.finish_and_clear();
    result
}

/// A progress bar over the run's duration, on stderr (hidden when stderr is not a terminal).
fn progress_bar(duration: Duration) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(duration.as_secs());
    let style = indicatif::ProgressStyle::with_template("{spinner} workload + faults [{bar:40}] {pos}/{len} s")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn print_history_summary(history: &History) {
    let (ok, failed, unknown) = history.counts();
    let mut latencies: Vec<Duration> = history
        .operations
        .iter()
        .filter(|op| !matches!(op.outcome, Outcome::Failed | Outcome::Unknown))
        .map(|op| op.completed.saturating_sub(op.invoked))
        .collect();
    latencies.sort();
    println!("operations: {} ({ok} ok, {failed} failed, {unknown} unknown)", history.operations.len());
    println!(
        "latency of ok operations: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

async fn registers(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    endpoints: Vec<String>,
    seed: u64,
) -> Result<(), String> {
    let duration = Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let workload = tokio::spawn(workload::registers(endpoints, args.clients, args.keys, duration, seed));
    let faults = faults_for(args, cluster, duration, seed, started).await?;
    let history = workload.await.map_err(|e| format!("workload failed: {e}"))?;
    print_faults(&faults);
    print_history_summary(&history);
    let checked = Instant::now();
    let verdict = tokio::task::spawn_blocking(move || linearizability::check(&history))
        .await
        .map_err(|e| format!("checker failed: {e}"))?;
    println!("checked in {:.1} s", checked.elapsed().as_secs_f64());
    match verdict {
        Verdict::Linearizable => {
            println!("verdict: linearizable");
            Ok(())
        }
        Verdict::Unknown { key } => Err(format!("verdict: unknown (search budget exhausted on key {key})")),
        Verdict::Violation { key, operations } => {
            println!(
                "verdict: NOT linearizable on key {key}; the operations around the first one that cannot be placed:"
            );
            for op in operations {
                println!(
                    "  client {:>2} [{:>8.3}s .. {:>8.3}s] {:?} -> {:?}",
                    op.client,
                    op.invoked.as_secs_f64(),
                    op.completed.as_secs_f64(),
                    op.action,
                    op.outcome
                );
            }
            Err(format!("linearizability violation on {key} (seed {seed})"))
        }
    }
}

/// How many snapshots the nodes installed (two of them are the joins of nodes 2 and 3).
fn print_snapshots(cluster: &LocalCluster) {
    let mut installed = 0.0;
    for node in &cluster.nodes {
        let page = node.http_get("/metrics").unwrap_or_default();
        installed += atoll_chaos::local::metric_value(&page, "atoll_raft_snapshots_applied_total").unwrap_or(0.0);
    }
    println!("snapshots installed: {installed}");
}

fn kinds(args: &ChaosArgs) -> Result<Vec<FaultKind>, String> {
    args.nemesis.iter().filter(|k| k.as_str() != "none").map(|k| k.parse()).collect()
}

fn print_faults(faults: &[nemesis::FaultRecord]) {
    println!("faults injected: {}", faults.len());
    for fault in faults {
        println!(
            "  {:>6.1}s - {:>6.1}s  {:?} node {}",
            fault.started.as_secs_f64(),
            fault.ended.as_secs_f64(),
            fault.kind,
            fault.node
        );
    }
}

async fn list_append(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    endpoints: Vec<String>,
    seed: u64,
) -> Result<(), String> {
    use atoll_chaos::elle::{self, TxnOutcome};
    let duration = Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let workload = tokio::spawn(workload::list_append(
        endpoints,
        args.clients,
        args.keys,
        duration,
        seed,
        args.unsafe_unvalidated_commits,
    ));
    let faults = faults_for(args, cluster, duration, seed, started).await?;
    let history = workload.await.map_err(|e| format!("workload failed: {e}"))?;
    print_faults(&faults);
    let count = |outcome| history.iter().filter(|t| t.outcome == outcome).count();
    println!(
        "transactions: {} ({} committed, {} aborted, {} unknown)",
        history.len(),
        count(TxnOutcome::Committed),
        count(TxnOutcome::Aborted),
        count(TxnOutcome::Unknown)
    );
    let anomalies = tokio::task::spawn_blocking(move || elle::check(&history)).await.map_err(|e| e.to_string())?;
    if anomalies.is_empty() {
        println!("verdict: serializable (no G0, G1a, G1b, G1c, G-single or G2 anomaly)");
        return Ok(());
    }
    println!("verdict: NOT serializable; anomalies by class: {:?}", elle::summary(&anomalies));
    for anomaly in anomalies.iter().take(5) {
        println!("  {}", anomaly.describe());
    }
    Err(format!("serializability violation (seed {seed})"))
}

/// Accounts in the bank workload, and what each holds at the start.
const BANK_ACCOUNTS: usize = 8;
const BANK_INITIAL: i64 = 100;

async fn bank(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    endpoints: Vec<String>,
    seed: u64,
) -> Result<(), String> {
    bank_over(args, cluster, endpoints, seed, false).await
}

/// The bank workload over KV transactions (etcd endpoints) or SQL (`sql`: SQL endpoints).
async fn bank_over(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    endpoints: Vec<String>,
    seed: u64,
    sql: bool,
) -> Result<(), String> {
    let duration = Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let (clients, accounts) = (args.clients, BANK_ACCOUNTS);
    let workload = if sql {
        tokio::spawn(atoll_chaos::sql_bank::run(endpoints, clients, accounts, BANK_INITIAL, duration, seed))
    } else {
        tokio::spawn(workload::bank(endpoints, clients, accounts, BANK_INITIAL, duration, seed))
    };
    let faults = faults_for(args, cluster, duration, seed, started).await?;
    let (reads, (committed, aborted, unknown)) = workload.await.map_err(|e| format!("workload failed: {e}"))??;
    print_faults(&faults);
    println!("transfers: {} committed, {aborted} aborted, {unknown} unknown", committed);
    println!("snapshot reads of all {BANK_ACCOUNTS} accounts: {}", reads.len());
    let total = BANK_ACCOUNTS as i64 * BANK_INITIAL;
    let violations = atoll_chaos::bank::check(&reads, BANK_ACCOUNTS, total);
    if violations.is_empty() {
        println!("verdict: every snapshot sums to {total}");
        return Ok(());
    }
    println!("verdict: money created or destroyed in {} snapshots; first ones:", violations.len());
    for violation in violations.iter().take(5) {
        println!("  {violation}");
    }
    Err(format!("bank invariant violated (seed {seed})"))
}

/// Hostile SQL clients in every run of `sql-hostile`.
const HOSTILE_CLIENTS: usize = 2;

/// The SQL bank with hostile clients beside it: the bank's invariant must hold, every attack
/// must be answered as promised, and no node may have exited on its own.
async fn sql_hostile(
    args: &ChaosArgs,
    cluster: &mut Option<&mut LocalCluster>,
    endpoints: Vec<String>,
    seed: u64,
) -> Result<(), String> {
    let duration = Duration::from_secs(args.duration_secs);
    let hostile = tokio::spawn(atoll_chaos::hostile::run(endpoints.clone(), HOSTILE_CLIENTS, duration, seed));
    let bank = bank_over(args, cluster, endpoints, seed, true).await;
    let tally = hostile.await.map_err(|e| format!("hostile clients failed: {e}"))?;
    let answered: Vec<String> = tally.answered.iter().map(|(kind, n)| format!("{kind:?} {n}")).collect();
    println!("hostile attacks answered as promised: {}", answered.join(", "));
    println!("hostile attacks that met a node down: {}", tally.unreachable);
    let mut crashed = Vec::new();
    if let Some(cluster) = cluster {
        for node in cluster.nodes.iter_mut() {
            if let Some(status) = node.exited() {
                crashed.push(format!("node {} exited on its own ({status}):\n{}", node.index, node.log_tail(20)));
            }
        }
    }
    for surprise in tally.surprises.iter().take(5) {
        println!("  surprise: {surprise}");
    }
    for crash in &crashed {
        println!("  {crash}");
    }
    bank?;
    if !tally.surprises.is_empty() || !crashed.is_empty() {
        println!("verdict: {} surprising answers, {} nodes down on their own", tally.surprises.len(), crashed.len());
        return Err(format!("hostile clients were not contained (seed {seed})"));
    }
    println!("verdict: every attack contained, no node down on its own");
    Ok(())
}

async fn durability_loop(args: &ChaosArgs, cluster: &mut LocalCluster, seed: u64) -> Result<(), String> {
    let down = Duration::from_millis(args.fault_hold_ms.min(1500));
    let up = Duration::from_millis(args.fault_interval_ms.min(2000));
    let duration = (down + up) * args.kill_cycles as u32 + Duration::from_secs(1);
    let writer = tokio::spawn(workload::unique_writes(cluster.etcd_endpoints(), args.clients, duration));
    let killed = nemesis::kill_cycles(cluster, args.kill_cycles, down, up, seed).await?;
    let acknowledged = writer.await.map_err(|e| format!("workload failed: {e}"))?;
    println!("kill -9 cycles: {} (nodes {:?})", killed.len(), killed);
    println!("acknowledged writes: {}", acknowledged.len());
    cluster.wait_for_replicas(args.nodes.min(3), Duration::from_secs(60)).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut replicas = Vec::new();
        for endpoint in cluster.etcd_endpoints() {
            replicas.push(workload::read_replica(&endpoint).await.unwrap_or_default());
        }
        let verdict = durability::check(&acknowledged, &replicas);
        match verdict {
            DurabilityVerdict::Ok => {
                let sum = durability::checksum(&replicas[0]);
                println!("replicas converged: {} keys each, checksum {sum:016x}", replicas[0].len());
                println!("verdict: no acknowledged write lost");
                return Ok(());
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(250)).await,
            DurabilityVerdict::Lost(lost) => {
                println!("verdict: {} acknowledged writes missing; first: {:?}", lost.len(), lost.first());
                return Err(format!("acknowledged writes lost (seed {seed})"));
            }
            DurabilityVerdict::Diverged(sums) => {
                println!("verdict: replicas diverged: {sums:?}");
                return Err(format!("replicas diverged (seed {seed})"));
            }
        }
    }
}
