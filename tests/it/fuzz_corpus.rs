//! The fuzz corpora replayed: every input kept in fuzz/corpus/<target>/ (grown by
//! `scripts/fuzz.sh` runs, which libFuzzer drives through instrumented builds of fuzz/) runs
//! through its target's body here, on the ordinary test build. A change that makes one of them
//! panic, or stop a range, fails the test command without a fuzzing run. The seed inputs are
//! made here too, from the code that writes them (see fuzz/src/seeds.rs).

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = crate::manifest_dir().join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    inputs
}

/// Runs every input of `target`'s corpus; names the first one that panics.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let inputs = corpus(target);
    for (path, bytes) in &inputs {
        if std::panic::catch_unwind(|| body(bytes)).is_err() {
            panic!("fuzz input {} fails its target ({} bytes)", path.display(), bytes.len());
        }
    }
    inputs.len()
}

/// The seeds of `target` pass it, and are in its corpus (written there when
/// `ATOLL_FUZZ_WRITE_SEEDS=1`).
fn seeds(target: &str, seeds: Vec<Vec<u8>>, body: fn(&[u8])) {
    let dir = crate::manifest_dir().join("../../fuzz/corpus").join(target);
    for (i, seed) in seeds.iter().enumerate() {
        body(seed);
        let path = dir.join(format!("seed-{i:02}"));
        if std::env::var_os("ATOLL_FUZZ_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).expect("corpus folder");
            std::fs::write(&path, seed).expect("write seed");
        }
        let kept = std::fs::read(&path).unwrap_or_default();
        assert!(
            kept == *seed,
            "{} is not the seed the code makes: ATOLL_FUZZ_WRITE_SEEDS=1 rewrites it",
            path.display()
        );
    }
}

#[test]
fn kv_apply_corpus() {
    seeds("kv_apply", targets::seeds::kv_apply(), targets::kv_apply);
    assert!(replay("kv_apply", targets::kv_apply) > 100);
}

#[test]
fn sql_input_corpus() {
    replay("sql_input", targets::sql_input);
}

#[test]
fn pgwire_decode_corpus() {
    assert!(replay("pgwire_decode", targets::pgwire_decode) > 100);
}

#[test]
fn peer_input_corpus() {
    seeds("peer_input", targets::seeds::peer_input(), targets::peer_input);
    replay("peer_input", targets::peer_input);
}

#[test]
fn etcd_request_corpus() {
    seeds("etcd_request", targets::seeds::etcd_request(), targets::etcd_request);
    replay("etcd_request", targets::etcd_request);
}

/// `etcd_request`'s range holds a SQL row that an unconfined read of everything would show, so
/// the target's "no answer shows SQL" can fail: it is the confinement that keeps it out.
#[test]
fn etcd_request_would_see_the_sql_row_without_the_confinement() {
    let (engine, shared, _machine) = targets::range_with_a_sql_row();
    let everything = atoll_proto::etcdserverpb::RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let unconfined = shared.read(engine.as_ref(), &everything).expect("read");
    assert_eq!(unconfined.kvs.len(), 1, "{unconfined:?}");
    let mut confined = everything.clone();
    atoll_server::etcd_keyspace::range(&mut confined);
    assert!(shared.read(engine.as_ref(), &confined).expect("read").kvs.is_empty());
}

/// The snapshot seeds are real snapshots: the receiver's check passes them and they install
/// (`peer_input` panics if a snapshot it passes does not install, and returns quietly on one it
/// refuses: this makes sure the seeds exercise the install, not only the refusal).
#[test]
fn peer_input_snapshot_seeds_pass_the_receivers_check() {
    let snapshots: Vec<_> = targets::seeds::peer_input().into_iter().filter(|s| s[0] % 2 == 1).collect();
    assert_eq!(snapshots.len(), 3);
    for seed in snapshots {
        let chunks = targets::commands(&seed[1..]);
        let mut check = atoll_kv::snapshot::SnapshotCheck::new(targets::RANGE);
        for chunk in &chunks {
            check.chunk(chunk).expect("a real chunk passes");
        }
        check.finish(targets::SNAPSHOT_INDEX).expect("a real snapshot passes");
    }
}

/// `sql_input` plans what it parses: a query over its table plans, one over a column that is
/// not there does not (so the planning step is really reached, not skipped).
#[test]
fn sql_input_plans_the_queries_it_parses() {
    let plan = |sql: &str| {
        let statement = atoll_sql::session::parse(sql).expect("parses").remove(0);
        futures::executor::block_on(atoll_sql::session::plan_detached(&statement))
    };
    plan("SELECT a, sum(c) FROM t WHERE b LIKE 'x%' GROUP BY a ORDER BY 2").expect("plans");
    plan("SELECT repeat(b, 3), lpad(b, 10) FROM t").expect("Atoll's bounded functions are there");
    let error = plan("SELECT nope FROM t").expect_err("no such column");
    assert_eq!(error.code, "42703", "{error:?}");
}

/// Inputs that once failed a target (kept in fuzz/regressions/ with the target's name first)
/// pass it now.
#[test]
fn regressions_pass_their_targets() {
    let dir = crate::manifest_dir().join("../../fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(&path).expect("read");
        let body: fn(&[u8]) = match name.split('-').next() {
            Some("sql_input") => targets::sql_input,
            Some("kv_apply") => targets::kv_apply,
            Some("pgwire_decode") => targets::pgwire_decode,
            Some("peer_input") => targets::peer_input,
            Some("etcd_request") => targets::etcd_request,
            _ => panic!("{name}: no target of that name"),
        };
        let started = std::time::Instant::now();
        body(&bytes);
        // Generous for the debug build: the 47 s parse is now immediate.
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{name}: {:?}", started.elapsed());
        seen += 1;
    }
    assert!(seen >= 2, "{seen} regressions");
}
