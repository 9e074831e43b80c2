//! `atoll demo`: a local cluster of real `atoll start` processes, each with its own data
//! directory under one temporary directory, plus a small shell to break it and watch it heal.
//!
//! Node `i` (1-based) listens on `base_port + 10*i` (peer), `+1` (etcd API) and `+2` (HTTP).
//! Once the cluster is up it prints, one per line and in this stable format:
//!
//! ```text
//! node <i> pid=<pid> peer=<addr> etcd=<addr> http=http://<addr> data=<dir>
//! etcd endpoints: <addr>,<addr>,...
//! ```

use crate::admin;
use atoll_chaos::local::LocalCluster;
use std::io::{BufRead, Write};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// First port of the demo's port block (see `atoll demo --help`).
    #[arg(long, default_value_t = 24000)]
    base_port: u16,
    /// Keep the data directory on exit.
    #[arg(long)]
    keep: bool,
    /// Do not open the shell: keep the cluster in the foreground until SIGINT/SIGTERM.
    #[arg(long)]
    no_shell: bool,
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err("--nodes must be between 1 and 9".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the atoll binary: {e}"))?;
    let mut cluster = LocalCluster::new(exe, args.nodes, Some(args.base_port), vec![])?;
    let result = match cluster.start(&mut |step| eprintln!("{step} ...")).await {
        Ok(()) => {
            print_summary(&cluster);
            if args.no_shell {
                crate::shutdown_signal().await;
                Ok(())
            } else {
                shell(&mut cluster).await
            }
        }
        Err(e) => Err(e),
    };
    cluster.stop();
    if args.keep || result.is_err() {
        eprintln!("data and logs kept in {}", cluster.keep().display());
    }
    result
}

fn print_summary(cluster: &LocalCluster) {
    println!("atoll demo: {} nodes up in {}", cluster.nodes.len(), cluster.root.display());
    for node in &cluster.nodes {
        println!(
            "node {} pid={} peer={} etcd={} http=http://{} data={}",
            node.index,
            node.pid(),
            node.peer,
            node.etcd,
            node.http,
            node.data_dir.display()
        );
    }
    let endpoints = cluster.etcd_endpoints().join(",");
    println!("etcd endpoints: {endpoints}");
    println!("try: ETCDCTL_API=3 etcdctl --endpoints={endpoints} put hello world");
    println!("SQL (psql) is not available yet: the SQL layer is being built.");
}

const HELP: &str = "\
\\nodes              list nodes and liveness
\\ranges             list ranges, replicas and leaders
\\kill N             kill -9 node N
\\restart N          restart node N (after \\kill)
\\pause N / \\resume N  SIGSTOP / SIGCONT node N
\\isolate N          cut node N off from the others (peer traffic only)
\\heal               undo every \\isolate
\\q                  stop the cluster and exit";

async fn shell(cluster: &mut LocalCluster) -> Result<(), String> {
    println!("demo shell; \\? for help");
    let stdin = std::io::stdin();
    loop {
        print!("atoll> ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let size = cluster.nodes.len();
        let target = || -> Result<usize, String> {
            let n: usize = words.get(1).and_then(|w| w.parse().ok()).ok_or("which node? e.g. \\kill 2")?;
            (1..=size).contains(&n).then_some(n - 1).ok_or_else(|| format!("no node {n}"))
        };
        let outcome: Result<(), String> = match words.first().copied() {
            None => Ok(()),
            Some("\\q") | Some("\\quit") => return Ok(()),
            Some("\\?") | Some("help") => {
                println!("{HELP}");
                Ok(())
            }
            Some("\\nodes") => match first_live(cluster) {
                Ok(host) => admin::node(admin::NodeCommand::Ls { host }).await,
                Err(e) => Err(e),
            },
            Some("\\ranges") => match first_live(cluster) {
                Ok(host) => admin::range(admin::RangeCommand::Ls { host }).await,
                Err(e) => Err(e),
            },
            Some("\\kill") => target().map(|i| {
                cluster.nodes[i].kill();
                println!("node {} killed", i + 1);
            }),
            Some("\\restart") => {
                target().and_then(|i| cluster.restart(i).map(|_| println!("node {} restarted", i + 1)))
            }
            Some("\\pause") => target().and_then(|i| cluster.nodes[i].pause()),
            Some("\\resume") => target().and_then(|i| cluster.nodes[i].resume()),
            Some("\\isolate") => target().and_then(|i| cluster.isolate(i).map(|_| println!("node {} isolated", i + 1))),
            Some("\\heal") => cluster.heal(),
            Some(other) => Err(format!("unknown command {other}; \\? for help")),
        };
        if let Err(e) = outcome {
            println!("error: {e}");
        }
    }
}

fn first_live(cluster: &LocalCluster) -> Result<String, String> {
    cluster
        .nodes
        .iter()
        .find(|n| n.is_running() && !n.is_paused())
        .map(|n| n.peer.clone())
        .ok_or_else(|| "no node is running".to_string())
}
