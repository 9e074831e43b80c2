//! A cluster of real `atoll start` processes on loopback, and the faults it can suffer.
//!
//! Node `i` (1-based) gets its own data directory and log file under one root directory.
//! Faults: kill -9 and restart, SIGSTOP/SIGCONT, and isolation through every node's fault
//! switches (`/fault/block/{node}` on the HTTP port; nodes run with fault injection enabled).

use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{NodeStatusRequest, NodeStatusResponse};
use atoll_security::ClientCerts;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node process.
pub struct LocalNode {
    pub index: usize,
    pub peer: String,
    pub etcd: String,
    pub http: String,
    /// The PostgreSQL protocol address.
    pub sql: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// The --join address this node was first started with, reused on restart: a node killed
    /// before it recorded its cluster identity must join again, not bootstrap a new cluster.
    join: Option<String>,
    /// The cluster's CA and `root`'s client certificate (secure clusters).
    tls: Option<ClientCerts>,
}

impl LocalNode {
    fn spawn(&mut self, exe: &Path, join: Option<&str>, extra_args: &[String]) -> Result<(), String> {
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
            .args(["--sql-addr", &self.sql])
            .args(["--name", &format!("node-{}", self.index), "--enable-fault-injection"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(join) = join {
            command.args(["--join", join]);
            self.join = Some(join.to_string());
        }
        self.child = Some(command.spawn().map_err(|e| format!("cannot start node {}: {e}", self.index))?);
        self.paused = false;
        Ok(())
    }

    /// The process id, 0 when not running.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Whether the process is running (possibly paused).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is stopped with SIGSTOP.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let status =
            Command::new("kill").args([signal, &self.pid().to_string()]).status().map_err(|e| e.to_string())?;
        status.success().then_some(()).ok_or_else(|| format!("kill {signal} {} failed", self.pid()))
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGTERM, then kill -9 after 5 s.
    pub fn terminate(&mut self) {
        if self.paused {
            let _ = self.signal("-CONT");
        }
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
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

    /// How the process ended, if it was started and has exited on its own.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        self.paused = false;
        Some(status.to_string())
    }

    /// The last `lines` lines of this node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// SIGSTOP.
    pub fn pause(&mut self) -> Result<(), String> {
        self.signal("-STOP")?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> Result<(), String> {
        self.signal("-CONT")?;
        self.paused = false;
        Ok(())
    }

    /// This node's status over peer RPC.
    pub async fn status(&self) -> Result<NodeStatusResponse, String> {
        fetch_status(&self.peer, self.tls.as_ref()).await
    }

    /// POSTs to a fault switch on this node's HTTP port.
    pub fn http_post(&self, path: &str) -> Result<(), String> {
        http_post(&self.http, self.tls.as_ref(), path)
    }

    /// GETs a page (metrics, health) from this node's HTTP port.
    pub fn http_get(&self, path: &str) -> Result<String, String> {
        http_get(&self.http, self.tls.as_ref(), path)
    }
}

impl Drop for LocalNode {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Fetches a node's status over peer RPC; `tls`: a secure cluster's certificates (a `root` or
/// node certificate is needed).
pub async fn fetch_status(host: &str, tls: Option<&ClientCerts>) -> Result<NodeStatusResponse, String> {
    let endpoint = atoll_security::grpc_endpoint(host, tls.map(ClientCerts::grpc), Duration::from_secs(1))?
        .timeout(Duration::from_secs(3));
    let channel = endpoint.connect().await.map_err(|e| format!("cannot reach node at {host}: {e}"))?;
    let response =
        PeerClient::new(channel).status(NodeStatusRequest {}).await.map_err(|s| format!("{host}: {}", s.message()))?;
    Ok(response.into_inner())
}

/// Sends one HTTP/1.1 request (with `Connection: close`) and reads the whole response, over
/// TLS with `tls`. One request at a time does not justify an HTTP client crate.
fn http_exchange(address: &str, tls: Option<&ClientCerts>, request: &str) -> Result<String, String> {
    let stream = std::net::TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut response = Vec::new();
    let read = match tls {
        None => {
            let mut stream = stream;
            stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
            std::io::Read::read_to_end(&mut stream, &mut response)
        }
        Some(tls) => {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
            let config = tls.rustls().map_err(|e| e.to_string())?;
            let connection = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
            let mut stream = rustls::StreamOwned::new(connection, stream);
            stream.write_all(request.as_bytes()).map_err(|e| format!("{address}: {e}"))?;
            std::io::Read::read_to_end(&mut stream, &mut response)
        }
    };
    // A server may close without TLS's close_notify once the response is complete.
    if let Err(e) = read {
        if response.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(format!("{address}: {e}"));
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// A POST to a fault switch; `tls` for secure clusters.
pub fn http_post(address: &str, tls: Option<&ClientCerts>, path: &str) -> Result<(), String> {
    let request = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let response = http_exchange(address, tls, &request)?;
    let status = response.lines().next().unwrap_or_default();
    if status.contains(" 204 ") || status.contains(" 200 ") {
        Ok(())
    } else {
        Err(format!("{address}{path}: {}", status.trim()))
    }
}

/// A GET of a text page (the metrics); the body, or an error.
pub fn http_get(address: &str, tls: Option<&ClientCerts>, path: &str) -> Result<String, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let response = http_exchange(address, tls, &request)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200 ") => Ok(body.to_string()),
        _ => Err(format!("{address}{path}: {}", response.lines().next().unwrap_or_default())),
    }
}

/// The value of a counter or gauge without labels in a Prometheus text page.
pub fn metric_value(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A local cluster of node processes.
pub struct LocalCluster {
    pub root: PathBuf,
    dir: Option<tempfile::TempDir>,
    exe: PathBuf,
    extra_args: Vec<String>,
    pub nodes: Vec<LocalNode>,
    /// The certs directory of a secure cluster ([`LocalCluster::use_certs`]); `None`: the
    /// nodes run `--insecure`.
    certs_dir: Option<PathBuf>,
}

/// The last `lines` lines of a log file (empty if it cannot be read), for failure messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Ports handed out by [`pick_port`] in this process, so two clusters never share one.
static PICKED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// A free loopback port for a node to listen on, chosen below the kernel's ephemeral range
/// (32768-60999 on Linux): a port from `bind(0)` is released before the node binds it, and in
/// that window an outgoing connection can take it as its source port, which leaves the node
/// unable to start. Ports in 20000-32767 are never handed out for outgoing connections.
pub fn pick_port() -> Result<u16, String> {
    use rand::Rng;
    let mut picked = PICKED.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rng();
    for _ in 0..1000 {
        let port = rng.random_range(20000..32768u16);
        if picked.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            picked.push(port);
            return Ok(port);
        }
    }
    Err("no free port in 20000-32767 on 127.0.0.1".into())
}

impl LocalCluster {
    /// Lays out `size` nodes in a new temporary directory. With `base_port`, node `i` uses
    /// `base_port + 10*i` (peer), `+1` (etcd), `+2` (HTTP) and `+3` (SQL); without, [`pick_port`].
    pub fn new(exe: PathBuf, size: usize, base_port: Option<u16>, extra_args: Vec<String>) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("atoll-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let root = dir.path().to_path_buf();
        let mut nodes = Vec::with_capacity(size);
        for index in 1..=size {
            let port = |offset: usize| -> Result<String, String> {
                let port = match base_port {
                    Some(base) => base as usize + 10 * index + offset,
                    None => pick_port()? as usize,
                };
                Ok(format!("127.0.0.1:{port}"))
            };
            nodes.push(LocalNode {
                index,
                peer: port(0)?,
                etcd: port(1)?,
                http: port(2)?,
                sql: port(3)?,
                data_dir: root.join(format!("node{index}")),
                log: root.join(format!("node{index}.log")),
                child: None,
                paused: false,
                join: None,
                tls: None,
            });
        }
        Ok(LocalCluster { root, dir: Some(dir), exe, extra_args, nodes, certs_dir: None })
    }

    /// Makes the cluster secure with the certificates in `certs_dir` (`ca.crt`, `node.crt`
    /// for 127.0.0.1, and `client.root.crt` for the harness's own status and fault calls).
    /// Before [`LocalCluster::start`].
    pub fn use_certs(&mut self, certs_dir: &Path) -> Result<(), String> {
        let client = ClientCerts::load(certs_dir, atoll_security::certs::ROOT_USER).map_err(|e| e.to_string())?;
        if !client.has_identity() {
            return Err(format!("{}: no client.root.crt for the cluster's admin calls", certs_dir.display()));
        }
        for node in &mut self.nodes {
            node.tls = Some(client.clone());
        }
        self.certs_dir = Some(certs_dir.to_path_buf());
        Ok(())
    }

    /// Creates a CA, a node certificate for 127.0.0.1 and localhost and `root`'s client
    /// certificate under the cluster's directory (`certs/`, the CA key in `ca-key/`), and
    /// makes the cluster secure with them. Returns the certs directory.
    pub fn create_certs(&mut self) -> Result<PathBuf, String> {
        use atoll_security::certs;
        let certs_dir = self.root.join("certs");
        let ca_key = self.root.join("ca-key").join("ca.key");
        let hosts = ["127.0.0.1".to_string(), "localhost".to_string()];
        certs::create_ca(&certs_dir, &ca_key, certs::CA_DAYS, false)
            .and_then(|_| certs::create_node(&certs_dir, &ca_key, &hosts, certs::NODE_DAYS, false))
            .and_then(|_| certs::create_client(&certs_dir, &ca_key, certs::ROOT_USER, certs::CLIENT_DAYS, false))
            .map_err(|e| format!("certificates: {e}"))?;
        self.use_certs(&certs_dir)?;
        Ok(certs_dir)
    }

    /// The certs directory of a secure cluster.
    pub fn certs_dir(&self) -> Option<&Path> {
        self.certs_dir.as_deref()
    }

    /// The flags that make a node secure or insecure, then the cluster's extra flags.
    fn node_args(&self) -> Vec<String> {
        let mut args = match &self.certs_dir {
            Some(dir) => vec!["--certs-dir".to_string(), dir.display().to_string()],
            None => vec!["--insecure".to_string()],
        };
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// A new cluster on ports from [`pick_port`], started. Another process (a concurrent test,
    /// another `atoll chaos`) can take a picked port before the node binds it; a start that
    /// fails so is thrown away and made again on fresh ports, up to three times.
    pub async fn start_on_free_ports(
        exe: PathBuf,
        size: usize,
        extra_args: Vec<String>,
        secure: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, String> {
        let mut attempt = 1;
        loop {
            let mut cluster = LocalCluster::new(exe.clone(), size, None, extra_args.clone())?;
            if secure {
                cluster.create_certs()?;
            }
            match cluster.start(progress).await {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    progress(&format!("a port was taken meanwhile; starting again on other ports ({e:.80})"));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts every node: the first bootstraps, the others join it one at a time, and each
    /// step waits until the cluster reports the new replica. `progress` hears each step.
    pub async fn start(&mut self, progress: &mut dyn FnMut(&str)) -> Result<(), String> {
        let first_peer = self.nodes[0].peer.clone();
        for i in 0..self.nodes.len() {
            progress(&format!("starting node {}", i + 1));
            let join = (i > 0).then_some(first_peer.as_str());
            let args = self.node_args();
            self.nodes[i].spawn(&self.exe, join, &args)?;
            let replicas = (i + 1).min(3);
            if let Err(e) = self.wait_for_replicas(replicas, Duration::from_secs(60)).await {
                let mut message = format!("node {}: {e}", i + 1);
                for node in &self.nodes[..=i] {
                    message.push_str(&format!("\n--- node {} log (last lines):\n{}", node.index, node.log_tail(20)));
                }
                return Err(message);
            }
        }
        Ok(())
    }

    /// Waits until a running node reports a leader and `count` replicas of every range.
    /// Fails at once if a node that should be running has exited.
    pub async fn wait_for_replicas(&mut self, count: usize, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            for node in &mut self.nodes {
                if let Some(status) = node.exited() {
                    return Err(format!("node {} exited ({status}); log {}", node.index, node.log.display()));
                }
            }
            for node in self.nodes.iter().filter(|n| n.is_running() && !n.is_paused()) {
                match node.status().await {
                    Ok(status) => {
                        // Both keyspaces' ranges (etcd's and SQL's), each with a leader.
                        let ready = status.ranges.len() >= 2
                            && status.ranges.iter().all(|r| {
                                r.leader_node_id != 0
                                    && r.descriptor.as_ref().is_some_and(|d| d.replicas.len() >= count)
                            });
                        if ready {
                            return Ok(());
                        }
                        last = "no leader yet".into();
                    }
                    Err(e) => last = e,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("not ready within {within:?} ({last}); logs in {}", self.root.display()))
    }

    /// The node index (0-based) of the current leader, if a running node knows it.
    pub async fn leader(&self) -> Option<usize> {
        for node in self.nodes.iter().filter(|n| n.is_running() && !n.is_paused()) {
            if let Ok(status) = node.status().await {
                if let Some(leader) = status.ranges.first().map(|r| r.leader_node_id).filter(|l| *l != 0) {
                    return Some(leader as usize - 1);
                }
            }
        }
        None
    }

    /// Replaces the flags every node is started with from now on (a restart with another
    /// encryption key, say).
    pub fn set_extra_args(&mut self, extra_args: Vec<String>) {
        self.extra_args = extra_args;
    }

    /// Restarts a killed node from its data directory.
    pub fn restart(&mut self, index: usize) -> Result<(), String> {
        let args = self.node_args();
        let node = &mut self.nodes[index];
        if node.is_running() {
            return Err(format!("node {} is running", index + 1));
        }
        let join = node.join.clone();
        node.spawn(&self.exe, join.as_deref(), &args)
    }

    /// Cuts node `index` off from every other node (both directions, peer traffic only).
    pub fn isolate(&self, index: usize) -> Result<(), String> {
        let victim = index + 1;
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.is_running() && !n.is_paused()) {
            if i == index {
                for other in (1..=self.nodes.len()).filter(|o| *o != victim) {
                    node.http_post(&format!("/fault/block/{other}"))?;
                }
            } else {
                node.http_post(&format!("/fault/block/{victim}"))?;
            }
        }
        Ok(())
    }

    /// Makes the links between node `index` and every other node lossy (`drop_percent` % of
    /// messages lost) and slow (`delay_ms` added per batch), in both directions.
    pub fn degrade(&self, index: usize, drop_percent: u8, delay_ms: u64) -> Result<(), String> {
        let victim = index + 1;
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.is_running() && !n.is_paused()) {
            let others: Vec<usize> =
                if i == index { (1..=self.nodes.len()).filter(|o| *o != victim).collect() } else { vec![victim] };
            for other in others {
                node.http_post(&format!("/fault/drop/{other}/{drop_percent}"))?;
                node.http_post(&format!("/fault/delay/{other}/{delay_ms}"))?;
            }
        }
        Ok(())
    }

    /// Cuts the link between nodes `a` and `b` only: every other node still reaches both (a
    /// "bridge" partition, where the majorities of `a` and `b` overlap).
    pub fn cut(&self, a: usize, b: usize) -> Result<(), String> {
        self.nodes[a].http_post(&format!("/fault/block/{}", b + 1))?;
        self.nodes[b].http_post(&format!("/fault/block/{}", a + 1))
    }

    /// Undoes every isolation on running nodes.
    pub fn heal(&self) -> Result<(), String> {
        self.nodes.iter().filter(|n| n.is_running() && !n.is_paused()).try_for_each(|n| n.http_post("/fault/heal"))
    }

    /// The etcd endpoints of all nodes.
    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.etcd.clone()).collect()
    }

    /// Stops every node (SIGTERM).
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.terminate();
        }
    }

    /// Keeps the directory after the cluster is dropped; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            return dir.keep();
        }
        self.root.clone()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
