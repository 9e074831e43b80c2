//! A cluster of real `atoll start` processes with their own data directories.

use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{NodeStatusRequest, NodeStatusResponse};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestNode {
    pub index: usize,
    pub peer: String,
    pub etcd: String,
    pub http: String,
    pub sql: String,
    pub data_dir: PathBuf,
    /// Extra `atoll start` flags.
    pub args: Vec<String>,
    child: Option<Child>,
}

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<TestNode>,
}

fn free_port() -> u16 {
    atoll_chaos::local::pick_port().expect("free port")
}

impl TestNode {
    pub fn must_spawn(&mut self, join: Option<&str>) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.with_extension("log"))
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_atoll"));
        command
            .args(["start", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--peer-addr", &self.peer, "--etcd-addr", &self.etcd, "--http-addr", &self.http])
            .args(["--sql-addr", &self.sql])
            .args(&self.args)
            .args(if self.args.iter().any(|a| a == "--certs-dir") { None } else { Some("--insecure") })
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if let Some(join) = join {
            command.args(["--join", join]);
        }
        self.child = Some(command.spawn().expect("spawn atoll"));
    }

    /// The last `lines` lines of this node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        atoll_chaos::local::log_tail(&self.data_dir.with_extension("log"), lines)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends a signal (`-STOP`, `-CONT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("node running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().expect("kill(1)");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    pub async fn status(&self) -> Result<NodeStatusResponse, String> {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.peer))
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(2));
        let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
        let response = PeerClient::new(channel).status(NodeStatusRequest {}).await.map_err(|e| e.to_string())?;
        Ok(response.into_inner())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestCluster {
    /// Starts `size` nodes: the first bootstraps, the others join it one by one.
    pub async fn must_start(size: usize) -> TestCluster {
        Self::must_start_with(size, &[]).await
    }

    /// Starts `size` nodes with extra `atoll start` flags. A picked port can be taken by
    /// another process (an `atoll chaos` run by another test) before the node binds it; such
    /// a start is thrown away and made again on fresh ports, up to three times.
    pub async fn must_start_with(size: usize, args: &[&str]) -> TestCluster {
        Self::must_start_with_ranges(size, args, 2).await
    }

    /// Starts `size` nodes and waits for `ranges` ranges (2 once the keyspaces have split; 1 for
    /// a cluster started with a delayed split).
    pub async fn must_start_with_ranges(size: usize, args: &[&str], ranges: usize) -> TestCluster {
        let mut attempt = 1;
        loop {
            match Self::start_with(size, args, ranges).await {
                Ok(cluster) => return cluster,
                Err(e) if attempt < 3 && e.contains("Address already in use") => attempt += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    async fn start_with(size: usize, args: &[&str], ranges: usize) -> Result<TestCluster, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes = (1..=size)
            .map(|index| TestNode {
                index,
                peer: format!("127.0.0.1:{}", free_port()),
                etcd: format!("127.0.0.1:{}", free_port()),
                http: format!("127.0.0.1:{}", free_port()),
                sql: format!("127.0.0.1:{}", free_port()),
                data_dir: dir.path().join(format!("node{index}")),
                args: args.iter().map(|a| a.to_string()).collect(),
                child: None,
            })
            .collect();
        let mut cluster = TestCluster { dir, nodes };
        let first_peer = cluster.nodes[0].peer.clone();
        for i in 0..size {
            let join = (i > 0).then_some(first_peer.as_str());
            cluster.nodes[i].must_spawn(join);
            cluster.wait_for_replicas((i + 1).min(3), ranges).await?;
        }
        Ok(cluster)
    }

    /// Waits until some running node reports a leader and `count` replicas for every range; the error carries
    /// how each node ended and the tail of its log.
    async fn wait_for_replicas(&mut self, count: usize, ranges: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            for node in &mut self.nodes {
                if let Some(Ok(Some(status))) = node.child.as_mut().map(|c| c.try_wait()) {
                    return Err(format!("node {} exited ({status}):\n{}", node.index, node.log_tail(30)));
                }
            }
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                if let Ok(status) = node.status().await {
                    // Both keyspaces' ranges (see `atoll_server::keyspaces`), each with a
                    // leader and `count` replicas.
                    let ok = status.ranges.len() >= ranges
                        && status.ranges.iter().all(|r| {
                            r.leader_node_id != 0 && r.descriptor.as_ref().is_some_and(|d| d.replicas.len() == count)
                        });
                    if ok {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logs: Vec<String> =
            self.nodes.iter().map(|n| format!("--- node {} log:\n{}", n.index, n.log_tail(20))).collect();
        Err(format!("cluster did not reach {count} replicas with a leader within 60 s\n{}", logs.join("\n")))
    }

    /// The index in `nodes` of the current leader of the first range (the etcd keyspace's), as
    /// reported by a running node.
    pub async fn must_find_leader(&self) -> usize {
        self.must_find_range_leader(1).await
    }

    /// The index in `nodes` of the current leader of range `range_id` (2: SQL's).
    pub async fn must_find_range_leader(&self, range_id: u64) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                if let Ok(status) = node.status().await {
                    let range =
                        status.ranges.iter().find(|r| r.descriptor.as_ref().is_some_and(|d| d.range_id == range_id));
                    if let Some(leader) = range.map(|r| r.leader_node_id).filter(|l| *l != 0) {
                        return leader as usize - 1;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader found");
    }

    pub fn etcd_endpoints(&self) -> String {
        self.nodes.iter().map(|n| n.etcd.as_str()).collect::<Vec<_>>().join(",")
    }
}
