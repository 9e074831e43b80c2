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
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

struct DemoNode {
    index: usize,
    peer: String,
    etcd: String,
    http: String,
    data_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl DemoNode {
    fn spawn(&mut self, join: Option<&str>) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the atoll binary: {e}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut command = Command::new(exe);
        command
            .args(["start", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--peer-addr", &self.peer, "--etcd-addr", &self.etcd, "--http-addr", &self.http])
            .args(["--name", &format!("demo-{}", self.index), "--enable-fault-injection"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(join) = join {
            command.args(["--join", join]);
        }
        self.child = Some(command.spawn().map_err(|e| format!("cannot start node {}: {e}", self.index))?);
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let status =
            Command::new("kill").args([signal, &self.pid().to_string()]).status().map_err(|e| e.to_string())?;
        status.success().then_some(()).ok_or_else(|| format!("kill {signal} failed"))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.signal_pid(child.id(), "-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal_pid(&self, pid: u32, signal: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("kill").args([signal, &pid.to_string()]).status()
    }
}

/// Waits until `node` reports a leader for its range and (when given) lists `member` among
/// the replicas.
async fn wait_ready(host: &str, member: Option<u64>, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match admin::fetch_status(host).await {
            Ok(status) => {
                let ready = status.ranges.iter().any(|r| {
                    r.leader_node_id != 0
                        && member.is_none_or(|m| r.descriptor.as_ref().is_some_and(|d| d.replicas.contains(&m)))
                });
                if ready {
                    return Ok(());
                }
                last = "no leader yet".into();
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{what} did not become ready within 60 s ({last})"))
}

/// A tiny HTTP POST, for the fault switches (avoids an HTTP client crate for one request).
fn http_post(address: &str, path: &str) -> Result<(), String> {
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    write!(stream, "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut status = String::new();
    std::io::BufReader::new(stream).read_line(&mut status).map_err(|e| e.to_string())?;
    if status.contains(" 204 ") || status.contains(" 200 ") {
        Ok(())
    } else {
        Err(format!("{address}{path}: {}", status.trim()))
    }
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err("--nodes must be between 1 and 9".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("atoll-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let root = dir.path().to_path_buf();
    let mut nodes: Vec<DemoNode> = (1..=args.nodes)
        .map(|index| {
            let port = |offset: usize| format!("127.0.0.1:{}", args.base_port as usize + 10 * index + offset);
            DemoNode {
                index,
                peer: port(0),
                etcd: port(1),
                http: port(2),
                data_dir: root.join(format!("node{index}")),
                child: None,
                log: root.join(format!("node{index}.log")),
            }
        })
        .collect();
    let result = start_all(&mut nodes).await;
    let result = match result {
        Ok(()) => {
            print_summary(&nodes, &root);
            if args.no_shell {
                crate::shutdown_signal().await;
                Ok(())
            } else {
                shell(&mut nodes).await
            }
        }
        Err(e) => Err(format!("{e}; node logs are in {}", root.display())),
    };
    for node in &mut nodes {
        node.terminate();
    }
    if args.keep || result.is_err() {
        let kept = dir.keep();
        eprintln!("data and logs kept in {}", kept.display());
    }
    result
}

async fn start_all(nodes: &mut [DemoNode]) -> Result<(), String> {
    let first_peer = nodes[0].peer.clone();
    for (i, node) in nodes.iter_mut().enumerate() {
        let join = (i > 0).then_some(first_peer.as_str());
        eprintln!("starting node {} ...", i + 1);
        node.spawn(join)?;
        let member = (i > 0 && i < 3).then_some(i as u64 + 1);
        wait_ready(&first_peer, member, &format!("node {}", i + 1)).await?;
    }
    Ok(())
}

fn print_summary(nodes: &[DemoNode], root: &Path) {
    println!("atoll demo: {} nodes up in {}", nodes.len(), root.display());
    for node in nodes {
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
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.etcd.as_str()).collect();
    println!("etcd endpoints: {}", endpoints.join(","));
    println!("try: etcdctl --endpoints={} put hello world", endpoints.join(","));
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

async fn shell(nodes: &mut [DemoNode]) -> Result<(), String> {
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
        let target = |nodes: &[DemoNode]| -> Result<usize, String> {
            let n: usize = words.get(1).and_then(|w| w.parse().ok()).ok_or("which node? e.g. \\kill 2")?;
            (1..=nodes.len()).contains(&n).then_some(n - 1).ok_or_else(|| format!("no node {n}"))
        };
        let outcome: Result<(), String> = match words.first().copied() {
            None => Ok(()),
            Some("\\q") | Some("\\quit") => return Ok(()),
            Some("\\?") | Some("help") => {
                println!("{HELP}");
                Ok(())
            }
            Some("\\nodes") => match first_live(nodes) {
                Ok(host) => admin::node(admin::NodeCommand::Ls { host: host.to_string() }).await,
                Err(e) => Err(e),
            },
            Some("\\ranges") => match first_live(nodes) {
                Ok(host) => admin::range(admin::RangeCommand::Ls { host: host.to_string() }).await,
                Err(e) => Err(e),
            },
            Some("\\kill") => target(nodes).map(|i| {
                nodes[i].kill();
                println!("node {} killed", i + 1);
            }),
            Some("\\restart") => target(nodes).and_then(|i| {
                if nodes[i].child.is_some() {
                    return Err("node is running; \\kill it first".into());
                }
                nodes[i].spawn(None).map(|_| println!("node {} restarted", i + 1))
            }),
            Some("\\pause") => target(nodes).and_then(|i| nodes[i].signal("-STOP")),
            Some("\\resume") => target(nodes).and_then(|i| nodes[i].signal("-CONT")),
            Some("\\isolate") => target(nodes).and_then(|i| isolate(nodes, i)),
            Some("\\heal") => {
                nodes.iter().filter(|n| n.child.is_some()).try_for_each(|n| http_post(&n.http, "/fault/heal"))
            }
            Some(other) => Err(format!("unknown command {other}; \\? for help")),
        };
        if let Err(e) = outcome {
            println!("error: {e}");
        }
    }
}

fn first_live(nodes: &[DemoNode]) -> Result<&str, String> {
    nodes.iter().find(|n| n.child.is_some()).map(|n| n.peer.as_str()).ok_or_else(|| "no node is running".to_string())
}

fn isolate(nodes: &[DemoNode], victim: usize) -> Result<(), String> {
    let victim_id = victim + 1;
    for (i, node) in nodes.iter().enumerate().filter(|(_, n)| n.child.is_some()) {
        if i == victim {
            for other in (1..=nodes.len()).filter(|o| *o != victim_id) {
                http_post(&node.http, &format!("/fault/block/{other}"))?;
            }
        } else {
            http_post(&node.http, &format!("/fault/block/{victim_id}"))?;
        }
    }
    println!("node {victim_id} isolated");
    Ok(())
}
