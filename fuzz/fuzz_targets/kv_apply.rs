//! Any sequence of Raft commands applied to a range: the state machine answers each (an error
//! result is fine) and never panics or reports a fatal error, which would stop the node; reads
//! afterwards answer too. Commands come from the input (see `atoll_fuzz::commands`), seeded
//! with real Puts, DeleteRanges, Txns (nested, with compares), Compacts and node registrations.
#![no_main]

use atoll_proto::etcdserverpb::RangeRequest;
use atoll_replication::StateMachine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (engine, shared, mut machine) = atoll_fuzz::fresh_range();
    let mut index = machine.applied_index();
    for command in atoll_fuzz::commands(input) {
        index += 1;
        if let Err(fatal) = machine.apply(index, command) {
            panic!("a command stopped the node: {fatal:?}");
        }
    }
    let everything = RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let _ = shared.read(engine.as_ref(), &everything);
});
