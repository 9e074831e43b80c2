//! Serializability checking of list-append transactions, after Elle (Kingsbury & Alvaro).
//!
//! Every transaction reads whole lists and appends unique elements to them. Because elements
//! are unique and lists only grow, each read reveals the exact order of all appends before it,
//! so the checker can recover each key's version order and from it three kinds of
//! dependencies between committed transactions:
//! * **ww**: T1 appended the element right before T2's element on the same key;
//! * **wr**: T2 read a list whose last element T1 appended;
//! * **rw** (anti-dependency): T1 read a list of a key, T2 appended the element that follows
//!   what T1 saw.
//!
//! A serializable history has no cycle in these dependencies. Cycles are classified as in
//! Adya's formalism: **G0** (ww only), **G1c** (ww and wr), **G-single** (exactly one rw),
//! **G2** (several rw, e.g. write skew). Without any graph the checker also finds **G1a**
//! (reading an element of an aborted transaction), **G1b** (reading a list that ends in an
//! element that was not its writer's last append to that key), incompatible orders (two reads
//! of a key that are not prefixes of one another), garbage reads, and reads inconsistent with
//! the transaction's own earlier appends.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// One operation inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MicroOp {
    /// Read a list: `None` until the transaction ran (or when it failed).
    Read(String, Option<Vec<u64>>),
    /// Append a unique element.
    Append(String, u64),
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    Committed,
    /// Definitely not committed (for example a serialization conflict).
    Aborted,
    /// Unknown whether it committed.
    Unknown,
}

/// One transaction of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    pub ops: Vec<MicroOp>,
    pub outcome: TxnOutcome,
}

/// An anomaly, with the transactions (indexes into the history) involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anomaly {
    G0(Vec<usize>),
    G1a { reader: usize, writer: usize, element: u64 },
    G1b { reader: usize, writer: usize, element: u64 },
    G1c(Vec<usize>),
    GSingle(Vec<usize>),
    G2(Vec<usize>),
    IncompatibleOrder { key: String, a: Vec<u64>, b: Vec<u64> },
    GarbageRead { reader: usize, element: u64 },
    Internal { txn: usize, key: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Edge {
    Ww,
    Wr,
    Rw,
}

/// Checks a list-append history; returns every anomaly class found (empty: serializable).
pub fn check(history: &[Txn]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let writers = writers(history);
    check_reads(history, &writers, &mut anomalies);
    let orders = match version_orders(history, &mut anomalies) {
        Some(orders) => orders,
        None => return anomalies,
    };
    let graph = dependencies(history, &writers, &orders);
    anomalies.extend(find_cycles(&graph, history.len()));
    anomalies
}

/// Element -> (transaction, position among that transaction's appends to the key).
fn writers(history: &[Txn]) -> HashMap<u64, usize> {
    let mut writers = HashMap::new();
    for (index, txn) in history.iter().enumerate() {
        for op in &txn.ops {
            if let MicroOp::Append(_, element) = op {
                writers.insert(*element, index);
            }
        }
    }
    writers
}

fn committed_or_visible(txn: &Txn) -> bool {
    txn.outcome != TxnOutcome::Aborted
}

fn check_reads(history: &[Txn], writers: &HashMap<u64, usize>, anomalies: &mut Vec<Anomaly>) {
    for (reader, txn) in history.iter().enumerate() {
        if txn.outcome != TxnOutcome::Committed {
            continue;
        }
        let mut own: HashMap<&str, Vec<u64>> = HashMap::new();
        for op in &txn.ops {
            match op {
                MicroOp::Append(key, element) => own.entry(key.as_str()).or_default().push(*element),
                MicroOp::Read(key, Some(list)) => {
                    if let Some(appended) = own.get(key.as_str()) {
                        if !list.ends_with(appended) {
                            anomalies.push(Anomaly::Internal { txn: reader, key: key.clone() });
                        }
                    }
                    for &element in list {
                        match writers.get(&element) {
                            None => anomalies.push(Anomaly::GarbageRead { reader, element }),
                            Some(&writer) if history[writer].outcome == TxnOutcome::Aborted => {
                                anomalies.push(Anomaly::G1a { reader, writer, element })
                            }
                            _ => {}
                        }
                    }
                    if let Some(&last) = list.last() {
                        if let Some(&writer) = writers.get(&last) {
                            let last_append = history[writer].ops.iter().rev().find_map(|op| match op {
                                MicroOp::Append(k, e) if k == key => Some(*e),
                                _ => None,
                            });
                            if writer != reader && last_append != Some(last) {
                                anomalies.push(Anomaly::G1b { reader, writer, element: last });
                            }
                        }
                    }
                }
                MicroOp::Read(_, None) => {}
            }
        }
    }
}

/// For each key, the longest list read by a committed transaction; every other read must be a
/// prefix of it.
fn version_orders(history: &[Txn], anomalies: &mut Vec<Anomaly>) -> Option<HashMap<String, Vec<u64>>> {
    let mut longest: HashMap<String, Vec<u64>> = HashMap::new();
    let mut reads: Vec<(&String, &Vec<u64>)> = Vec::new();
    for txn in history.iter().filter(|t| t.outcome == TxnOutcome::Committed) {
        for op in &txn.ops {
            if let MicroOp::Read(key, Some(list)) = op {
                reads.push((key, list));
                let entry = longest.entry(key.clone()).or_default();
                if list.len() > entry.len() {
                    *entry = list.clone();
                }
            }
        }
    }
    let mut consistent = true;
    for (key, list) in reads {
        let full = &longest[key];
        if !full.starts_with(list) {
            anomalies.push(Anomaly::IncompatibleOrder { key: key.clone(), a: list.clone(), b: full.clone() });
            consistent = false;
        }
    }
    consistent.then_some(longest)
}

type Graph = BTreeMap<usize, Vec<(usize, Edge)>>;

fn dependencies(history: &[Txn], writers: &HashMap<u64, usize>, orders: &HashMap<String, Vec<u64>>) -> Graph {
    let mut graph: Graph = BTreeMap::new();
    let mut add = |from: usize, to: usize, edge: Edge| {
        if from != to {
            graph.entry(from).or_default().push((to, edge));
        }
    };
    for order in orders.values() {
        for pair in order.windows(2) {
            if let (Some(&a), Some(&b)) = (writers.get(&pair[0]), writers.get(&pair[1])) {
                add(a, b, Edge::Ww);
            }
        }
    }
    for (reader, txn) in history.iter().enumerate().filter(|(_, t)| t.outcome == TxnOutcome::Committed) {
        for op in &txn.ops {
            let MicroOp::Read(key, Some(list)) = op else { continue };
            if let Some(writer) = list.last().and_then(|last| writers.get(last)) {
                add(*writer, reader, Edge::Wr);
            }
            // The next version after what this transaction saw was written by someone else.
            let next = orders.get(key).and_then(|order| order.get(list.len()));
            if let Some(writer) = next.and_then(|next| writers.get(next)) {
                if committed_or_visible(&history[*writer]) {
                    add(reader, *writer, Edge::Rw);
                }
            }
        }
    }
    graph
}

/// A cycle through `start` using only `allowed` edges, as the list of its transactions.
fn cycle_through(graph: &Graph, start: usize, allowed: &[Edge]) -> Option<Vec<usize>> {
    let edges = graph.get(&start)?;
    edges.iter().filter(|(_, edge)| allowed.contains(edge)).find_map(|&(next, _)| {
        path_between(graph, next, start, allowed).map(|mut path| {
            path.pop();
            path.insert(0, start);
            path
        })
    })
}

fn find_cycles(graph: &Graph, count: usize) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let nodes: Vec<usize> = (0..count).filter(|n| graph.contains_key(n)).collect();
    if let Some(cycle) = nodes.iter().find_map(|&n| cycle_through(graph, n, &[Edge::Ww])) {
        found.push(Anomaly::G0(cycle));
    }
    if let Some(cycle) = nodes.iter().find_map(|&n| cycle_through(graph, n, &[Edge::Ww, Edge::Wr])) {
        if !found.iter().any(|a| matches!(a, Anomaly::G0(_))) {
            found.push(Anomaly::G1c(cycle));
        }
    }
    // G-single: an rw edge a -> b closed by a ww/wr path from b back to a.
    let single = graph.iter().find_map(|(&a, edges)| {
        edges.iter().filter(|(_, e)| *e == Edge::Rw).find_map(|&(b, _)| {
            path_between(graph, b, a, &[Edge::Ww, Edge::Wr]).map(|mut path| {
                path.insert(0, a);
                path
            })
        })
    });
    if let Some(cycle) = single {
        found.push(Anomaly::GSingle(cycle));
    } else if found.is_empty() {
        if let Some(cycle) = nodes.iter().find_map(|&n| cycle_through(graph, n, &[Edge::Ww, Edge::Wr, Edge::Rw])) {
            found.push(Anomaly::G2(cycle));
        }
    }
    found
}

/// A path from `from` to `to` using only `allowed` edges (both ends included).
fn path_between(graph: &Graph, from: usize, to: usize, allowed: &[Edge]) -> Option<Vec<usize>> {
    if from == to {
        return Some(vec![from]);
    }
    let mut previous: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = HashSet::from([from]);
    while let Some(node) = queue.pop_front() {
        for &(next, edge) in graph.get(&node).map(Vec::as_slice).unwrap_or_default() {
            if !allowed.contains(&edge) || !seen.insert(next) {
                continue;
            }
            previous.insert(next, node);
            if next == to {
                let mut path = vec![to];
                let mut at = to;
                while let Some(&p) = previous.get(&at) {
                    path.push(p);
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(next);
        }
    }
    None
}

#[cfg(test)]
mod tests;

impl Anomaly {
    /// The anomaly's class name, as in Adya's and Elle's vocabulary.
    pub fn class(&self) -> &'static str {
        match self {
            Anomaly::G0(_) => "G0",
            Anomaly::G1a { .. } => "G1a",
            Anomaly::G1b { .. } => "G1b",
            Anomaly::G1c(_) => "G1c",
            Anomaly::GSingle(_) => "G-single",
            Anomaly::G2(_) => "G2",
            Anomaly::IncompatibleOrder { .. } => "incompatible-order",
            Anomaly::GarbageRead { .. } => "garbage-read",
            Anomaly::Internal { .. } => "internal",
        }
    }

    /// A one-line description that stays short for long lists.
    pub fn describe(&self) -> String {
        match self {
            Anomaly::IncompatibleOrder { key, a, b } => {
                let diverge = a.iter().zip(b.iter()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                format!(
                    "incompatible-order on {key}: a read of {} elements and one of {} differ at position {diverge} ({:?} vs {:?})",
                    a.len(),
                    b.len(),
                    a.get(diverge),
                    b.get(diverge)
                )
            }
            other => format!("{other:?}"),
        }
    }
}

/// Counts anomalies by class.
pub fn summary(anomalies: &[Anomaly]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for anomaly in anomalies {
        *counts.entry(anomaly.class()).or_insert(0) += 1;
    }
    counts
}
