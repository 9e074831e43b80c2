//! `atoll demo`: a local cluster of real `atoll start` processes, each with its own data
//! directory under one temporary directory, plus a small shell to break it and watch it heal.
//!
//! Node `i` (1-based) listens on `base_port + 10*i` (peer), `+1` (etcd API), `+2` (HTTP) and
//! `+3` (SQL). The cluster is secure unless `--insecure`: the demo creates a CA, a node
//! certificate and `root`'s client certificate in `<dir>/certs` (the CA key apart, in
//! `<dir>/ca-key`). Once the cluster is up it loads a sample bank database and prints, one per
//! line and in this stable format:
//!
//! ```text
//! node <i> pid=<pid> peer=<addr> etcd=<addr> http=<scheme>://<addr> sql=<addr> data=<dir>
//! etcd endpoints: <addr>,<addr>,...
//! sql: postgresql://demo:<password>@<addr>/postgres?sslmode=verify-full&sslrootcert=<dir>/certs/ca.crt
//! ```
//!
//! `demo` is a superuser the demo creates with a random password; the shell itself logs in as
//! `root` with its client certificate.
//!
//! (`--insecure`: `http://`, and `sql: postgresql://atoll@<addr>/postgres`.)
//!
//! The shell takes SQL (ending with `;`) and backslash commands that break and heal the cluster.

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
    /// Seconds a node may be unheard before its replicas are re-created on other nodes (with
    /// `--nodes 4` or more; try `--dead-after-secs 20` and `\kill 2`).
    #[arg(long, default_value_t = 300)]
    dead_after_secs: u64,
    /// No TLS and no authentication (as `atoll start --insecure`); for benchmarks against
    /// peers that run without TLS.
    #[arg(long)]
    insecure: bool,
    /// Encrypt each node's store at rest, with a key the demo creates (`<dir>/store.key`).
    #[arg(long)]
    encrypt: bool,
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err("--nodes must be between 1 and 9".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the atoll binary: {e}"))?;
    let node_args = vec!["--dead-after-secs".to_string(), args.dead_after_secs.to_string()];
    let mut cluster = LocalCluster::new(exe, args.nodes, Some(args.base_port), node_args.clone())?;
    if args.encrypt {
        let key = cluster.root.join("store.key");
        atoll_storage::encryption::StoreKey::create(&key).map_err(|e| e.to_string())?;
        let mut node_args = node_args;
        node_args.extend(["--encryption-key-file".to_string(), key.display().to_string()]);
        cluster.set_extra_args(node_args);
        eprintln!("stores encrypted at rest with {}", key.display());
    }
    if !args.insecure {
        cluster.create_certs()?;
    }
    let result = match cluster.start(&mut |step| eprintln!("{step} ...")).await {
        Ok(()) => {
            if let Err(e) = load_sample(&cluster).await {
                eprintln!("could not load the sample database: {e}");
            }
            let login = match cluster.certs_dir() {
                Some(_) => create_demo_user(&cluster)
                    .await
                    .inspect_err(|e| eprintln!("could not create the demo user: {e}"))
                    .ok(),
                None => None,
            };
            print_summary(&cluster, login.as_deref());
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

/// The user the demo prints a password URL for.
const DEMO_USER: &str = "demo";

/// Creates the `demo` superuser with a random password (20 letters and digits), as root.
async fn create_demo_user(cluster: &LocalCluster) -> Result<String, String> {
    use rand::distr::{Alphanumeric, SampleString};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 20);
    let client = crate::sql::connect(&sql_url(cluster, &cluster.nodes[0].sql), None).await?;
    let statement = format!("CREATE USER {DEMO_USER} WITH SUPERUSER PASSWORD '{password}'");
    client.simple_query(&statement).await.map_err(|e| crate::sql::describe(&e))?;
    Ok(password)
}

fn print_summary(cluster: &LocalCluster, demo_password: Option<&str>) {
    println!("atoll demo: {} nodes up in {}", cluster.nodes.len(), cluster.root.display());
    let scheme = if cluster.certs_dir().is_some() { "https" } else { "http" };
    for node in &cluster.nodes {
        println!(
            "node {} pid={} peer={} etcd={} http={scheme}://{} sql={} data={}",
            node.index,
            node.pid(),
            node.peer,
            node.etcd,
            node.http,
            node.sql,
            node.data_dir.display()
        );
    }
    let endpoints = cluster.etcd_endpoints().join(",");
    println!("etcd endpoints: {endpoints}");
    let url = sql_url(cluster, &cluster.nodes[0].sql);
    match cluster.certs_dir() {
        Some(certs) => {
            let certs = certs.display();
            // etcd's users are SQL's: the demo user authenticates with its password too.
            let etcd_identity = match demo_password {
                Some(password) => format!("--user {DEMO_USER}:{password}"),
                None => format!("--cert {certs}/client.root.crt --key {certs}/client.root.key"),
            };
            println!(
                "try: ETCDCTL_API=3 etcdctl --endpoints={endpoints} --cacert {certs}/ca.crt {etcd_identity} put hello world"
            );
            let address = &cluster.nodes[0].sql;
            let password_url = demo_password.map(|password| {
                format!("postgresql://{DEMO_USER}:{password}@{address}/postgres?sslmode=verify-full&sslrootcert={certs}/ca.crt")
            });
            // The line scripts read: the password URL when there is one (shorter, no client
            // certificate), else root's certificate URL.
            println!("sql: {}", password_url.as_deref().unwrap_or(&url));
            println!("try: psql '{}' -c 'SELECT * FROM accounts'", password_url.as_deref().unwrap_or(&url));
            println!("root (client certificate): {url}");
            println!("certificates: {certs} (TLS on every port; root logs in with client.root.crt, {DEMO_USER} with its password)");
        }
        None => {
            println!("try: ETCDCTL_API=3 etcdctl --endpoints={endpoints} put hello world");
            println!("sql: {url}");
            println!("try: psql {url} -c 'SELECT * FROM accounts'  (or: atoll sql --url {url})");
        }
    }
}

/// A URL psql and `atoll sql` accept as is: on a secure cluster, `root` with its client
/// certificate and the server verified against the cluster's CA.
fn sql_url(cluster: &LocalCluster, address: &str) -> String {
    match cluster.certs_dir() {
        Some(certs) => {
            let certs = certs.display();
            format!(
                "postgresql://root@{address}/postgres?sslmode=verify-full&sslrootcert={certs}/ca.crt&sslcert={certs}/client.root.crt&sslkey={certs}/client.root.key"
            )
        }
        None => format!("postgresql://atoll@{address}/postgres"),
    }
}

/// A bank: accounts and the transfers between them, each transfer one transaction over both
/// tables.
const SAMPLE: &[&str] = &[
    "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance NUMERIC(12,2) NOT NULL CHECK (balance >= 0))",
    "CREATE TABLE transfers (id SERIAL PRIMARY KEY, from_id INT NOT NULL, to_id INT NOT NULL, amount NUMERIC(12,2) NOT NULL CHECK (amount > 0), at TIMESTAMPTZ DEFAULT now())",
    "CREATE INDEX transfers_from ON transfers (from_id)",
    "INSERT INTO accounts VALUES (1, 'alice', 1000), (2, 'bob', 500), (3, 'carol', 250), (4, 'dave', 100), (5, 'erin', 0)",
];

async fn load_sample(cluster: &LocalCluster) -> Result<(), String> {
    let client = crate::sql::connect(&sql_url(cluster, &cluster.nodes[0].sql), None).await?;
    for statement in SAMPLE {
        client.simple_query(statement).await.map_err(|e| crate::sql::describe(&e))?;
    }
    for (from, to, amount) in [(1, 2, 100), (2, 3, 50), (1, 5, 25)] {
        let transfer = format!(
            "BEGIN; \
             UPDATE accounts SET balance = balance - {amount} WHERE id = {from}; \
             UPDATE accounts SET balance = balance + {amount} WHERE id = {to}; \
             INSERT INTO transfers (from_id, to_id, amount) VALUES ({from}, {to}, {amount}); \
             COMMIT"
        );
        client.batch_execute(&transfer).await.map_err(|e| crate::sql::describe(&e))?;
    }
    Ok(())
}

const HELP: &str = "\
SQL statements end with ';' (try: SELECT * FROM accounts;)
\\d [TABLE]          list tables, or describe one
\\timing            toggle statement timing
\\nodes              list nodes and liveness
\\ranges             list ranges, replicas and leaders
\\kill N             kill -9 node N
\\restart N          restart node N (after \\kill)
\\pause N / \\resume N  SIGSTOP / SIGCONT node N
\\isolate N          cut node N off from the others (peer traffic only)
\\heal               undo every \\isolate
\\q                  stop the cluster and exit";

/// A SQL connection to some running node, re-made on another node when that one dies.
struct SqlLink {
    client: Option<(usize, tokio_postgres::Client)>,
}

impl SqlLink {
    async fn client(&mut self, cluster: &LocalCluster) -> Result<&tokio_postgres::Client, String> {
        let alive = |i: usize| cluster.nodes[i].is_running() && !cluster.nodes[i].is_paused();
        if let Some((i, client)) = &self.client {
            if !alive(*i) || client.is_closed() {
                self.client = None;
            }
        }
        if self.client.is_none() {
            for i in (0..cluster.nodes.len()).filter(|i| alive(*i)) {
                if let Ok(client) = crate::sql::connect(&sql_url(cluster, &cluster.nodes[i].sql), None).await {
                    println!("(connected to node {})", i + 1);
                    self.client = Some((i, client));
                    break;
                }
            }
        }
        self.client.as_ref().map(|(_, c)| c).ok_or_else(|| "no node answers SQL".to_string())
    }
}

async fn shell(cluster: &mut LocalCluster) -> Result<(), String> {
    println!("demo shell: SQL ending with ';', or \\? for help");
    let stdin = std::io::stdin();
    let mut buffer = crate::sql::LineBuffer::default();
    let mut link = SqlLink { client: None };
    let mut timing = false;
    loop {
        print!("{}", if buffer.is_empty() { "atoll> " } else { "   ... " });
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        let words = match buffer.push(line.trim_end_matches('\n')) {
            crate::sql::Input::Incomplete => continue,
            crate::sql::Input::Sql(sql) => {
                match link.client(cluster).await {
                    Ok(client) => {
                        crate::sql::run(client, &sql, timing).await;
                    }
                    Err(e) => println!("error: {e}"),
                }
                continue;
            }
            crate::sql::Input::Command(words) => words,
        };
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
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
            Some("\\d") | Some("\\dt") | Some("\\timing") => match link.client(cluster).await {
                Ok(client) => {
                    let owned: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    crate::sql::sql_command(client, &owned, &mut timing).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Some("\\nodes") => match first_live(cluster) {
                Ok(target) => admin::node(admin::NodeCommand::Ls { target }).await,
                Err(e) => Err(e),
            },
            Some("\\ranges") => match first_live(cluster) {
                Ok(target) => admin::range(admin::RangeCommand::Ls { target }).await,
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

fn first_live(cluster: &LocalCluster) -> Result<admin::Target, String> {
    cluster
        .nodes
        .iter()
        .find(|n| n.is_running() && !n.is_paused())
        .map(|n| admin::Target { host: n.peer.clone(), certs_dir: cluster.certs_dir().map(|d| d.to_path_buf()) })
        .ok_or_else(|| "no node is running".to_string())
}
