//! WAL append throughput with 1, 8 and 64 concurrent appenders of 1 KiB
//! entries, beside a raw fdatasync loop on the same disk (the physical limit).
//!
//!   cargo bench -p wal --bench append            (BENCH_SECONDS=3 by default)

use bytes::Bytes;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wal::{LogEntry, Options, Wal, WalOp};

fn seconds() -> Duration {
    Duration::from_secs_f64(std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0))
}

fn raw_fdatasync(dir: &std::path::Path) -> f64 {
    let path = dir.join("raw");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
    let buf = vec![7u8; 1024];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < seconds() {
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn run(appenders: usize, dir: &std::path::Path) -> (f64, f64, f64) {
    let wal = Arc::new(Wal::open(dir, Options::default()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let data = Bytes::from(vec![42u8; 1024]);
    let threads: Vec<_> = (0..appenders as u64)
        .map(|g| {
            let (wal, stop, count, data) = (wal.clone(), stop.clone(), count.clone(), data.clone());
            std::thread::spawn(move || {
                let mut index = 1;
                while !stop.load(Ordering::Relaxed) {
                    let e = LogEntry { index, term: 1, data: data.clone() };
                    wal.append(vec![WalOp::Entries { group: g + 1, entries: vec![e] }]).unwrap();
                    index += 1;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let fsyncs0 = wal.stats.fsyncs.load(Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(seconds());
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed) as f64;
    let fsyncs = (wal.stats.fsyncs.load(Ordering::Relaxed) - fsyncs0) as f64;
    (n / secs, n * 1024.0 / secs / 1e6, fsyncs / secs)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let base = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    println!("raw write+fdatasync of 1 KiB: {:.0} fsyncs/s", raw_fdatasync(base.path()));
    println!("{:>10} {:>12} {:>10} {:>10}", "appenders", "entries/s", "MB/s", "fsyncs/s");
    for appenders in [1, 8, 64] {
        let dir = base.path().join(format!("wal-{appenders}"));
        let (eps, mbs, fps) = run(appenders, &dir);
        println!("{appenders:>10} {eps:>12.0} {mbs:>10.1} {fps:>10.0}");
    }
}
