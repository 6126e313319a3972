//! Three drivers in one process over loopback TCP, one group, 64 proposals in
//! flight: committed (applied on the leader) proposals per second.
//!
//!   cargo bench -p kvraft --bench propose        (BENCH_SECONDS=5 by default)

#[path = "../tests/common/mod.rs"]
mod common;

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let in_flight = 64;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
        let c = Arc::new(common::Cluster::start_in(1, dir).await);
        let leader = c.wait_leader(1, None).await;
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let payload = Bytes::from(vec![b'x'; 256]);
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let (c, done, payload) = (c.clone(), done.clone(), payload.clone());
                tokio::spawn(async move {
                    let h = c.nodes[leader].handle.as_ref().unwrap();
                    while Instant::now() < deadline {
                        h.propose(1, payload.clone(), common::TIMEOUT).await.expect("proposal");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = done.load(Ordering::Relaxed) as f64;
        println!(
            "3 drivers, 1 group, {in_flight} proposals in flight, 256 B each: {:.0} committed proposals/s ({} in {:.1}s)",
            n / start.elapsed().as_secs_f64(),
            n,
            start.elapsed().as_secs_f64()
        );
    });
}
