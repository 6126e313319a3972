//! Storage properties of the node, in process: deleting a huge collection
//! writes only metadata and compaction reclaims it; applying the WAL again
//! on another store reproduces every byte (what replicas rely on).

use bytes::Bytes;
use kvraft::{Committed, CommittedKind, StateMachine};
use node::coll_cmds as cc;
use node::command::{Expire, Expiry, Key, KeyValue, Keys, Set};
use node::node::{bootstrap_standalone, Node, NodeConfig};
use node::partition::Registry;
use node::sm::KvStateMachine;
use node::store::Store;
use node::waiters::KeyWaiters;
use node::{Cmd, Reply};
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

async fn run(node: &Node, s: &mut node::Session, cmd: Cmd) -> Reply {
    node.submit(s, cmd).await.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_million_element_set_writes_only_metadata_and_compaction_reclaims_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open_standalone(NodeConfig::standalone(dir.path().to_path_buf())).await.unwrap();
    let mut s = node.new_session();
    for chunk in 0..100 {
        let members = (0..10_000).map(|i| b(format!("member:{}", chunk * 10_000 + i))).collect();
        let r = run(&node, &mut s, Cmd::SAdd(cc::KeyMembers { key: b("big"), members })).await;
        assert_eq!(r, Reply::Int(10_000));
    }
    assert_eq!(run(&node, &mut s, Cmd::SCard(Key { key: b("big") })).await, Reply::Int(1_000_000));
    let store = node.store().clone();
    assert!(store.count_elements() >= 1_000_000);

    let before = store.ops_written.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(run(&node, &mut s, Cmd::Del(Keys { keys: vec![b("big")] })).await, Reply::Int(1));
    let writes = store.ops_written.load(std::sync::atomic::Ordering::Relaxed) - before;
    // The metadata delete, the gc record, the slot's removal index and the
    // partition's state: nothing per element.
    assert!(writes <= 8, "DEL of a 1,000,000-element set wrote {writes} records");
    assert_eq!(run(&node, &mut s, Cmd::Exists(Keys { keys: vec![b("big")] })).await, Reply::Int(0));

    // A new set under the same name is a new version: untouched by the old one.
    run(&node, &mut s, Cmd::SAdd(cc::KeyMembers { key: b("big"), members: vec![b("fresh")] })).await;
    store.flush_wal().unwrap();
    store.compact_elements();
    let left = store.count_elements();
    assert!(left < 100, "{left} element records left after compaction");
    assert!(store.gc.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1_000_000);
    assert_eq!(run(&node, &mut s, Cmd::SMembers(Key { key: b("big") })).await, Reply::Set(vec![Reply::bulk("fresh")]));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_read_view_keeps_dead_elements_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open_standalone(NodeConfig::standalone(dir.path().to_path_buf())).await.unwrap();
    let mut s = node.new_session();
    let members: Vec<Bytes> = (0..1000).map(|i| b(format!("m{i}"))).collect();
    run(&node, &mut s, Cmd::SAdd(cc::KeyMembers { key: b("k"), members })).await;
    let store = node.store().clone();
    let view = store.read_view();
    run(&node, &mut s, Cmd::Del(Keys { keys: vec![b("k")] })).await;
    store.flush_wal().unwrap();
    store.compact_elements();
    // The view began before the DEL: it may still read them, so they stay.
    assert!(store.count_elements() >= 1000);
    drop(view);
    store.compact_elements();
    assert!(store.count_elements() < 10);
    node.shutdown().await;
}

/// Applies write RocksDB without sync. Were the elements of a deleted set
/// dropped before the DEL itself is durable, a power loss could bring back
/// the set's metadata without its elements, and the replay of an earlier
/// entry reading the set (SUNIONSTORE from it) would compute something else
/// than it did on the other replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_elements_stay_until_the_batch_that_killed_them_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeConfig::standalone(dir.path().to_path_buf());
    // No log compaction: its flush of RocksDB's WAL would race the test's.
    cfg.log_compact_entries = u64::MAX;
    let node = Node::open_standalone(cfg).await.unwrap();
    let mut s = node.new_session();
    let members: Vec<Bytes> = (0..1000).map(|i| b(format!("m{i}"))).collect();
    run(&node, &mut s, Cmd::SAdd(cc::KeyMembers { key: b("k"), members })).await;
    let store = node.store().clone();
    run(&node, &mut s, Cmd::Del(Keys { keys: vec![b("k")] })).await;
    store.compact_elements();
    assert!(store.count_elements() >= 1000, "dropped before the DEL was durable");
    assert_eq!(store.gc.dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
    store.flush_wal().unwrap();
    store.compact_elements();
    assert!(store.count_elements() < 10);
    node.shutdown().await;
}

/// A mixed workload with random choices (SPOP), TTLs and overwrites.
async fn workload(node: &Arc<Node>, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut s = node.new_session();
    for i in 0..1500 {
        let k = |rng: &mut rand::rngs::StdRng, t: &str| b(format!("{t}{}", rng.gen_range(0..8)));
        let cmd = match rng.gen_range(0..10) {
            0 => Cmd::SAdd(cc::KeyMembers {
                key: k(&mut rng, "s"),
                members: (0..5).map(|j| b(format!("m{}", (i + j) % 13))).collect(),
            }),
            1 => Cmd::SPop(cc::SPop { key: k(&mut rng, "s"), count: Some(rng.gen_range(1..3)) }),
            2 => Cmd::ZAdd(cc::ZAdd {
                key: k(&mut rng, "z"),
                pairs: vec![cc::ScoreMember {
                    score: Some(rng.gen_range(0..100) as f64),
                    member: b(format!("m{}", i % 7)),
                }],
                ..Default::default()
            }),
            3 => Cmd::Push(cc::Push {
                key: k(&mut rng, "l"),
                values: vec![b(format!("v{i}"))],
                left: rng.gen(),
                xx: false,
            }),
            4 => Cmd::HSet(cc::HSet {
                key: k(&mut rng, "h"),
                pairs: vec![KeyValue { key: b(format!("f{}", i % 5)), value: b(format!("{i}")) }],
                nx: false,
                ok_reply: false,
            }),
            5 => Cmd::Set(Set {
                key: k(&mut rng, "str"),
                value: b(format!("{i}")),
                expiry: Some(Expiry { ms: rng.gen_range(1..200), absolute: false }),
                ..Default::default()
            }),
            6 => Cmd::Del(Keys { keys: vec![k(&mut rng, "s")] }),
            7 => Cmd::Expire(Expire {
                key: k(&mut rng, "z"),
                expiry: Some(Expiry { ms: rng.gen_range(1..100), absolute: false }),
                cond: 0,
            }),
            8 => Cmd::Pop(cc::Pop { key: k(&mut rng, "l"), left: true, count: Some(2) }),
            _ => Cmd::ZPop(cc::ZPop { key: k(&mut rng, "z"), min: false, count: None }),
        };
        node.submit(&mut s, cmd).await.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_wal_on_another_store_reproduces_every_byte() {
    for partitions in [1, 4] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = NodeConfig::standalone(dir.path().to_path_buf());
        cfg.partitions = partitions;
        cfg.log_compact_entries = u64::MAX; // keep the whole log to replay it
        let node = Node::open_standalone(cfg.clone()).await.unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|t| {
                let node = node.clone();
                tokio::spawn(async move { workload(&node, t).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Let active expiry propose some removals too.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        node.shutdown().await;

        // A second store, bootstrapped the same way, fed the same log.
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = Arc::new(Store::open(&dir2.path().join("db")).unwrap());
        let (_, states) = bootstrap_standalone(&store2, &cfg).unwrap();
        let mut sm = KvStateMachine::new(store2.clone(), Registry::default(), Arc::new(KeyWaiters::default()));
        let wal = node.wal();
        for st in &states {
            let (first, _) = wal.bounds(st.group).unwrap();
            // Up to what the node applied (recorded with its data).
            let applied = node
                .store()
                .get(node::store::Cf::State, &node::state::partition_key(st.group))
                .map(|v| <node::state::PartitionState as prost::Message>::decode(v.as_slice()).unwrap().applied_index)
                .unwrap();
            assert!(applied > 100, "the workload was applied");
            let entries: Vec<_> = wal
                .entries(st.group, first, applied + 1, None)
                .unwrap()
                .into_iter()
                .map(kvraft::storage::decode_entry)
                .collect();
            let committed: Vec<Committed<'_>> = entries
                .iter()
                .map(|e| Committed {
                    index: e.index,
                    term: e.term,
                    kind: if e.data.is_empty() { CommittedKind::Empty } else { CommittedKind::Normal(&e.data) },
                })
                .collect();
            sm.apply(st.group, &committed);
            sm.flush();
        }
        for cf in Store::ALL_CFS {
            let a = node.store().dump(cf);
            let b = store2.dump(cf);
            assert_eq!(a.len(), b.len(), "{cf:?}: {} vs {} records ({partitions} partitions)", a.len(), b.len());
            assert!(a == b, "{cf:?} differs between the node and the replay ({partitions} partitions)");
        }
    }
}

/// The metadata column family's memtable is hashed by slot, and its scans go
/// slot by slot: they must still visit exactly the records in range, in
/// order, whether in tables on disk or in the memtable, across namespaces,
/// from the middle of a slot, and as a read view saw them.
#[test]
fn metadata_scans_visit_exactly_the_range_in_order_slot_by_slot() {
    use node::keys;
    use node::store::{Cf, KvRead};
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut write = |store: &Store, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, round: u32| {
        let mut batch = store.new_batch();
        for i in 0..3000u32 {
            let ns = rng.gen_range(1..4u32);
            // Hash tags put many keys in a few slots; the rest spread.
            let key = if i % 3 == 0 { format!("{{tag{}}}:{i}", i % 5) } else { format!("k{}", rng.gen_range(0..4000)) };
            let mk = keys::meta_key(ns, key.as_bytes());
            if rng.gen_bool(0.2) && model.contains_key(&mk) {
                store.batch_delete(&mut batch, Cf::Meta, &mk);
                model.remove(&mk);
            } else {
                let v = format!("{round}:{i}").into_bytes();
                store.batch_put(&mut batch, Cf::Meta, &mk, &v);
                model.insert(mk, v);
            }
        }
        store.write(batch, false).unwrap();
    };
    {
        // Reopening moves the first records from the memtable into a table.
        let store = Store::open(dir.path()).unwrap();
        write(&store, &mut model, 0);
    }
    let store = Store::open(dir.path()).unwrap();
    write(&store, &mut model, 1);
    let view = store.read_view();
    let seen_by_view = model.clone();
    write(&store, &mut model, 2);
    // A range deletion (FLUSHALL, a snapshot install) hides what it covers
    // from the memtable and the tables alike, here from mid-slot to mid-slot.
    let (cut_from, cut_to) = (keys::meta_key(1, b"k17"), keys::meta_key(1, b"k3001"));
    let (cut_from, cut_to) = if cut_from < cut_to { (cut_from, cut_to) } else { (cut_to, cut_from) };
    let mut batch = store.new_batch();
    store.batch_delete_range(&mut batch, Cf::Meta, &cut_from, &cut_to);
    store.write(batch, false).unwrap();
    let cut = model.range(cut_from.clone()..cut_to.clone()).count();
    assert!(cut > 100, "the range deletion covers {cut} records");
    model.retain(|k, _| *k < cut_from || *k >= cut_to);

    let scan = |kv: &dyn KvRead, from: &[u8], to: &[u8], limit: usize| {
        let mut out = Vec::new();
        kv.scan(Cf::Meta, from, to, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            out.len() < limit
        });
        out
    };
    let expect = |m: &BTreeMap<Vec<u8>, Vec<u8>>, from: &[u8], to: &[u8], limit: usize| {
        m.range(from.to_vec()..to.to_vec()).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    let mid_slot = keys::meta_key(2, b"{tag3}:3");
    let ranges: Vec<(Vec<u8>, Vec<u8>, usize)> = vec![
        (keys::slot_start(2, 0), keys::slot_start(2, keys::SLOTS as u32), usize::MAX),
        (keys::slot_start(1, 100), keys::slot_start(1, 9000), usize::MAX),
        (mid_slot.clone(), keys::slot_start(2, keys::SLOTS as u32), usize::MAX),
        (keys::slot_start(2, 0), mid_slot.clone(), usize::MAX),
        (mid_slot.clone(), keys::slot_start(2, keys::slot(b"{tag3}") as u32 + 1), usize::MAX),
        (keys::slot_start(3, 0), keys::slot_start(3, keys::SLOTS as u32), 17),
        (keys::slot_start(1, 0), keys::slot_start(3, keys::SLOTS as u32), usize::MAX),
        (keys::slot_start(2, 500), keys::slot_start(2, 500), usize::MAX),
        (b"".to_vec(), vec![0xff; 16], usize::MAX),
    ];
    for (from, to, limit) in &ranges {
        let want = expect(&model, from, to, *limit);
        assert_eq!(scan(&store.read_view(), from, to, *limit), want, "range {from:?}..{to:?}");
        assert_eq!(scan(&view, from, to, *limit), expect(&seen_by_view, from, to, *limit), "view {from:?}..{to:?}");
    }
    assert!(model.range(keys::slot_start(2, 0)..keys::slot_start(3, 0)).count() > 1000);
}

#[test]
fn the_nodes_that_sent_raft_messages_are_remembered_across_a_restart() {
    use node::seen::SeenNodes;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let seen = SeenNodes::load(store.clone());
        assert!(!seen.contains(2));
        seen.note(2).unwrap();
        seen.note(2).unwrap();
        seen.note(u64::MAX).unwrap();
        assert!(seen.contains(2) && seen.contains(u64::MAX) && !seen.contains(3));
        // Partition states share the column family and are no node ids.
        let mut b = store.new_batch();
        store.batch_put(&mut b, node::store::Cf::State, &node::state::partition_key(7), b"x");
        store.write(b, true).unwrap();
    }
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let seen = SeenNodes::load(store);
    assert!(seen.contains(2) && seen.contains(u64::MAX));
    assert!(!seen.contains(3) && !seen.contains(7));
}
