//! `atoll node ...` and `atoll range ...`: what any node knows about the cluster.

use atoll_chaos::local::fetch_status;
use atoll_proto::atoll::NodeStatusResponse;
use atoll_security::ClientCerts;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::SystemTime;

/// Which node to ask, and how.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Peer address of any node.
    #[arg(long, default_value = "127.0.0.1:26300")]
    pub host: String,
    /// A secure cluster's certificates: `ca.crt` and `client.root.crt` (or a node's directory).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
}

impl Target {
    fn certs(&self) -> Result<Option<ClientCerts>, String> {
        let Some(dir) = &self.certs_dir else { return Ok(None) };
        let root = ClientCerts::load(dir, atoll_security::certs::ROOT_USER).map_err(|e| e.to_string())?;
        if root.has_identity() {
            return Ok(Some(root));
        }
        let node = ClientCerts::load(dir, atoll_security::certs::NODE_COMMON_NAME).map_err(|e| e.to_string())?;
        match node.has_identity() {
            true => Ok(Some(node)),
            false => Err(format!("{}: neither client.root.crt nor node.crt to log in with", dir.display())),
        }
    }
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// List the cluster's nodes with liveness, as seen from one node.
    Ls {
        #[command(flatten)]
        target: Target,
    },
    /// Show one node's own status.
    Status {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum RangeCommand {
    /// List ranges with span, descriptor generation, replicas and leader.
    Ls {
        #[command(flatten)]
        target: Target,
    },
}

fn span(start: &[u8], end: &[u8]) -> String {
    let show = |key: &[u8], empty: &str| {
        if key.is_empty() {
            empty.to_string()
        } else {
            key.escape_ascii().to_string()
        }
    };
    format!("[{}, {})", show(start, "-inf"), show(end, "+inf"))
}

pub async fn node(command: NodeCommand) -> Result<(), String> {
    match command {
        NodeCommand::Ls { target } => {
            let certs = target.certs()?;
            let status = fetch_status(&target.host, certs.as_ref()).await?;
            let leaders: Vec<u64> = status.ranges.iter().map(|r| r.leader_node_id).collect();
            println!(
                "{:<4} {:<22} {:<22} {:<22} {:<12} {:<7} {:<7} {:<10} {:<9} version",
                "id", "peer", "etcd", "http", "live", "ranges", "leaders", "live data", "uptime"
            );
            // Liveness as the operator sees it: each node is asked directly, with a short
            // timeout, so a node that is down or cut off shows as such whatever the others think.
            let now = unix_ms();
            for node in &status.nodes {
                let Some(info) = &node.info else { continue };
                let answer = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    fetch_status(&info.peer_addr, certs.as_ref()),
                )
                .await;
                let (live, replicas, led, bytes, uptime) = match answer {
                    Ok(Ok(own)) => {
                        let held: Vec<_> = own
                            .ranges
                            .iter()
                            .filter(|r| r.descriptor.as_ref().is_some_and(|d| d.replicas.contains(&info.node_id)))
                            .collect();
                        // The live keys and values of its replicas, when the node counted them.
                        let bytes = if held.iter().all(|r| r.key_count.is_some()) {
                            human_bytes(held.iter().map(|r| r.approximate_size_bytes).sum())
                        } else {
                            "?".to_string()
                        };
                        (
                            "live".to_string(),
                            held.len().to_string(),
                            own.ranges.iter().filter(|r| r.leader_node_id == info.node_id).count().to_string(),
                            bytes,
                            format!("{}s", now.saturating_sub(own.started_at_unix_ms) / 1000),
                        )
                    }
                    _ => {
                        let led = leaders.iter().filter(|l| **l == info.node_id).count();
                        ("unreachable".into(), "-".into(), led.to_string(), "-".into(), "-".into())
                    }
                };
                println!(
                    "{:<4} {:<22} {:<22} {:<22} {:<12} {:<7} {:<7} {:<10} {:<9} {}",
                    info.node_id,
                    info.peer_addr,
                    info.etcd_addr,
                    info.http_addr,
                    live,
                    replicas,
                    led,
                    bytes,
                    uptime,
                    info.version
                );
            }
            Ok(())
        }
        NodeCommand::Status { target } => {
            let status = fetch_status(&target.host, target.certs()?.as_ref()).await?;
            let now = unix_ms();
            println!("node_id:    {}", status.node_id);
            println!("cluster_id: {:x}", status.cluster_id);
            println!("version:    {}", status.version);
            println!("uptime:     {}s", now.saturating_sub(status.started_at_unix_ms) / 1000);
            println!("ranges:     {}", status.ranges.len());
            println!("leading:    {}", status.ranges.iter().filter(|r| r.leader_node_id == status.node_id).count());
            println!("snapshots:  {}", status.snapshots.len());
            print_snapshots(&status);
            Ok(())
        }
    }
}

/// One line per snapshot this node is sending, receiving or installing.
fn print_snapshots(status: &NodeStatusResponse) {
    for snapshot in &status.snapshots {
        let seconds = snapshot.elapsed_ms as f64 / 1000.0;
        let rate = if seconds > 0.0 { human_bytes((snapshot.bytes as f64 / seconds) as u64) } else { "-".into() };
        let other = match snapshot.direction.as_str() {
            "sending" => format!("to node {}", snapshot.peer_node_id),
            "receiving" => format!("from node {}", snapshot.peer_node_id),
            _ => "into the engine".into(),
        };
        println!(
            "  snapshot of range {} {} {}: {} in {seconds:.1}s ({rate}/s)",
            snapshot.range_id,
            snapshot.direction,
            other,
            human_bytes(snapshot.bytes)
        );
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Bytes as B, KiB, MiB or GiB with one decimal.
fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

pub async fn range(command: RangeCommand) -> Result<(), String> {
    let RangeCommand::Ls { target } = command;
    let status = fetch_status(&target.host, target.certs()?.as_ref()).await?;
    println!(
        "{:<6} {:<24} {:<5} {:<12} {:<7} {:<6} {:<9} {:<10} {:<10} size",
        "id", "span", "gen", "replicas", "leader", "term", "applied", "revision", "keys"
    );
    for range in &status.ranges {
        let descriptor = range.descriptor.clone().unwrap_or_default();
        // Learners (non-voting, catching up) in parentheses.
        let replicas = descriptor
            .replicas
            .iter()
            .map(|r| r.to_string())
            .chain(range.learners.iter().map(|l| format!("({l})")))
            .collect::<Vec<_>>()
            .join(",");
        let restoring = if range.restoring { " (installing a snapshot)" } else { "" };
        println!(
            "{:<6} {:<24} {:<5} {:<12} {:<7} {:<6} {:<9} {:<10} {:<10} {}{restoring}",
            descriptor.range_id,
            span(&descriptor.start_key, &descriptor.end_key),
            descriptor.generation,
            replicas,
            range.leader_node_id,
            range.term,
            range.applied_index,
            range.revision,
            range.key_count.map_or_else(|| "?".to_string(), |count| count.to_string()),
            range.key_count.map_or_else(|| "?".to_string(), |_| human_bytes(range.approximate_size_bytes))
        );
    }
    print_snapshots(&status);
    Ok(())
}
