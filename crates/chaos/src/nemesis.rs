//! Faults on a seeded schedule: one minority fault at a time, held for a while, then healed.

use crate::local::LocalCluster;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// The kinds of fault the nemesis injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// kill -9 a random node, restart it after the hold time.
    Kill,
    /// SIGSTOP a random node, SIGCONT after the hold time.
    Pause,
    /// Cut a random node off from the others.
    Isolate,
    /// Cut the current leader off from the others.
    IsolateLeader,
    /// Cut the link between the leader and one other node only (a bridge: the third node
    /// still sees both).
    Bridge,
    /// Make a random node's links lose 30 % of the messages and add 100 ms per batch.
    Degrade,
    /// SIGSTOP a random follower for the hold time: with a small Raft log (`atoll chaos
    /// --small-raft-log`, implied by this fault) it falls behind the leader's log and catches
    /// up by a snapshot streamed while the others go on.
    Lag,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kill" => Ok(FaultKind::Kill),
            "pause" => Ok(FaultKind::Pause),
            "isolate" => Ok(FaultKind::Isolate),
            "isolate-leader" => Ok(FaultKind::IsolateLeader),
            "bridge" => Ok(FaultKind::Bridge),
            "degrade" => Ok(FaultKind::Degrade),
            "lag" => Ok(FaultKind::Lag),
            other => Err(format!(
                "unknown fault {other:?}: use kill, pause, isolate, isolate-leader, bridge, degrade or lag"
            )),
        }
    }
}

/// One injected fault, for the report.
#[derive(Clone, Debug)]
pub struct FaultRecord {
    pub started: Duration,
    pub ended: Duration,
    pub kind: FaultKind,
    pub node: usize,
}

/// Injects faults from `kinds` until `duration` (measured from `run_started`) is over, then
/// heals everything.
pub async fn run(
    cluster: &mut LocalCluster,
    kinds: &[FaultKind],
    duration: Duration,
    interval: Duration,
    hold: Duration,
    seed: u64,
    run_started: Instant,
) -> Result<Vec<FaultRecord>, String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(0x5eed));
    let mut records = Vec::new();
    if kinds.is_empty() {
        tokio::time::sleep(duration.saturating_sub(run_started.elapsed())).await;
        return Ok(records);
    }
    loop {
        let pause = interval.mul_f64(rng.random_range(0.5..1.5));
        if run_started.elapsed() + pause + hold >= duration {
            break;
        }
        tokio::time::sleep(pause).await;
        let kind = kinds[rng.random_range(0..kinds.len())];
        let node = match kind {
            FaultKind::IsolateLeader | FaultKind::Bridge => match cluster.leader().await {
                Some(leader) => leader,
                None => rng.random_range(0..cluster.nodes.len()),
            },
            FaultKind::Lag => {
                let leader = cluster.leader().await;
                let followers: Vec<usize> = (0..cluster.nodes.len()).filter(|n| Some(*n) != leader).collect();
                followers[rng.random_range(0..followers.len())]
            }
            _ => rng.random_range(0..cluster.nodes.len()),
        };
        let started = run_started.elapsed();
        inject(cluster, kind, node)?;
        tokio::time::sleep(hold).await;
        heal(cluster, kind, node)?;
        records.push(FaultRecord { started, ended: run_started.elapsed(), kind, node: node + 1 });
    }
    let remaining = duration.saturating_sub(run_started.elapsed());
    tokio::time::sleep(remaining).await;
    Ok(records)
}

fn inject(cluster: &mut LocalCluster, kind: FaultKind, node: usize) -> Result<(), String> {
    match kind {
        FaultKind::Kill => {
            cluster.nodes[node].kill();
            Ok(())
        }
        FaultKind::Pause | FaultKind::Lag => cluster.nodes[node].pause(),
        FaultKind::Isolate | FaultKind::IsolateLeader => cluster.isolate(node),
        FaultKind::Bridge => cluster.cut(node, (node + 1) % cluster.nodes.len()),
        FaultKind::Degrade => cluster.degrade(node, 30, 100),
    }
}

fn heal(cluster: &mut LocalCluster, kind: FaultKind, node: usize) -> Result<(), String> {
    match kind {
        FaultKind::Kill => cluster.restart(node),
        FaultKind::Pause | FaultKind::Lag => cluster.nodes[node].resume(),
        FaultKind::Isolate | FaultKind::IsolateLeader | FaultKind::Bridge | FaultKind::Degrade => cluster.heal(),
    }
}

/// The durability loop's nemesis: `cycles` times, kill -9 a random node, wait `down`, restart
/// it, wait `up`. Returns the killed nodes in order.
pub async fn kill_cycles(
    cluster: &mut LocalCluster,
    cycles: usize,
    down: Duration,
    up: Duration,
    seed: u64,
) -> Result<Vec<usize>, String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(0xdead));
    let mut killed = Vec::with_capacity(cycles);
    for _ in 0..cycles {
        let node = rng.random_range(0..cluster.nodes.len());
        cluster.nodes[node].kill();
        killed.push(node + 1);
        tokio::time::sleep(down).await;
        cluster.restart(node)?;
        tokio::time::sleep(up).await;
    }
    Ok(killed)
}
