//! Three drivers in one process, ten groups each, over real TCP on loopback.
//! Every node-to-node link goes through a proxy the test can cut.

mod common;

use bytes::Bytes;
use common::{Cluster, NODES, TIMEOUT};
use kvraft::ProposeError;
use std::time::{Duration, Instant};

const GROUPS: u64 = 10;

async fn write_round(c: &Cluster, round: usize, per_group: usize) {
    let mut tasks = Vec::new();
    for g in 1..=GROUPS {
        for k in 0..per_group {
            let data = format!("r{round}-g{g}-k{k}");
            tasks.push(async move { c.propose_via_leader(g, &data).await });
        }
    }
    futures::future::join_all(tasks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_replicate_in_the_same_order_everywhere() {
    let c = Cluster::start(GROUPS).await;
    for g in 1..=GROUPS {
        c.wait_leader(g, None).await;
    }
    write_round(&c, 0, 20).await;
    c.wait_converged(20).await;
    // Each group's entries are the ones proposed to it, each exactly once.
    for g in 1..=GROUPS {
        let mut got: Vec<String> =
            c.applied_data(0, g).iter().map(|(_, d)| String::from_utf8(d.to_vec()).unwrap()).collect();
        got.sort();
        let mut want: Vec<String> = (0..20).map(|k| format!("r0-g{g}-k{k}")).collect();
        want.sort();
        assert_eq!(got, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_restarts_from_its_wal_and_catches_up() {
    let mut c = Cluster::start(GROUPS).await;
    write_round(&c, 0, 5).await;
    c.wait_converged(5).await;
    c.stop(2);
    // Groups that node 3 led elect a new leader; writing goes on.
    write_round(&c, 1, 10).await;
    c.wait_converged(15).await;
    c.restart(2).await;
    c.wait_converged(15).await;
    let reference = c.applied_data(0, 1);
    assert_eq!(c.applied_data(2, 1), reference);
    // And it takes part again.
    write_round(&c, 2, 5).await;
    c.wait_converged(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one() {
    let mut c = Cluster::start(GROUPS).await;
    let old = c.wait_leader(1, None).await;
    c.propose(old, 1, "before").await.unwrap();
    c.stop(old);
    let new = c.wait_leader(1, Some(old)).await;
    assert_ne!(new, old);
    let idx = c.propose(new, 1, "after").await.unwrap();
    assert!(idx > 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposal_on_a_follower_names_the_leader() {
    let c = Cluster::start(GROUPS).await;
    let leader = c.wait_leader(3, None).await;
    // Wait until the followers know the leader too.
    let follower = (0..NODES).find(|i| *i != leader).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while c.nodes[follower].shared[&3].leader_node() != Some(leader as u64 + 1) {
        assert!(Instant::now() < deadline, "follower never learned the leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = c.propose(follower, 3, "x").await.unwrap_err();
    assert_eq!(err, ProposeError::NotLeader { leader: Some(leader as u64 + 1) });
    assert!(err.certainly_not_applied());
    // Nothing of it was applied anywhere.
    c.propose(leader, 3, "y").await.unwrap();
    for i in 0..NODES {
        assert!(c.applied_data(i, 3).iter().all(|(_, d)| d.as_ref() != b"x"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposal_overwritten_after_a_leader_change_is_reported_as_such() {
    let c = Cluster::start(GROUPS).await;
    let group = 5;
    let old = c.wait_leader(group, None).await;
    c.propose(old, group, "committed").await.unwrap();
    // Cut the leader off, then propose to it while it still believes it leads.
    c.isolate(old);
    let h = c.nodes[old].handle.as_ref().unwrap();
    let doomed = h.propose(group, Bytes::from_static(b"doomed"), TIMEOUT);
    // Meanwhile the others elect a new leader, which commits at the same index.
    let elsewhere = async {
        let new = c.wait_leader(group, Some(old)).await;
        c.propose(new, group, "replacement").await.unwrap();
        c.heal();
        new
    };
    let (result, new) = tokio::join!(doomed, elsewhere);
    assert_eq!(result, Err(ProposeError::Overwritten));
    assert!(result.unwrap_err().certainly_not_applied());
    c.propose_via_leader(group, "later").await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let done = (0..NODES).all(|i| c.applied_data(i, group).len() >= 3);
        if done {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..NODES {
        let data = c.applied_data(i, group);
        assert!(data.iter().all(|(_, d)| d.as_ref() != b"doomed"), "node {} applied the overwritten entry", i + 1);
        assert_eq!(data, c.applied_data(new, group));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_index_on_an_idle_group_resolves_without_further_writes() {
    let c = Cluster::start(GROUPS).await;
    let leader = c.wait_leader(7, None).await;
    let idx = c.propose(leader, 7, "last write").await.unwrap();
    // Nothing else is written: the read must still be answered, at or after
    // the last write, on the leader and through a follower's leader.
    let h = c.nodes[leader].handle.as_ref().unwrap();
    for _ in 0..3 {
        let read = h.read_index(7, TIMEOUT).await.unwrap();
        assert!(read >= idx, "read index {read} before the acknowledged write at {idx}");
        assert!(c.nodes[leader].shared[&7].applied() >= read);
    }
}
