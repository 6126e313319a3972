//! Linearizability under faults: five clients (no retries) run GET, SET and
//! INCR on a few keys through random nodes while a nemesis kills, pauses and
//! partitions nodes and moves leadership; each key's history must be
//! linearizable.

use kvtests::cluster::{Cluster, ClusterOptions};
use kvtests::linearizability::{check, Event, Op};
use rand::{Rng, SeedableRng};
use redis::RedisResult;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYS: usize = 3;
const CLIENTS: usize = 5;
const OPS_PER_CLIENT: usize = 150;

/// What one reply means for the history.
enum Outcome<T> {
    Ok(T),
    /// Certainly not applied (TRYAGAIN): left out.
    Failed,
    /// Anything else: may or may not have happened.
    Unknown,
}

fn classify<T>(r: RedisResult<T>) -> Outcome<T> {
    match r {
        Ok(v) => Outcome::Ok(v),
        Err(e) if e.code() == Some("TRYAGAIN") => Outcome::Failed,
        Err(_) => Outcome::Unknown,
    }
}

fn run_client(id: usize, urls: Vec<String>, origin: Instant, seed: u64) -> Vec<(usize, Event)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut conn: Option<redis::Connection> = None;
    let mut out = Vec::new();
    for n in 0..OPS_PER_CLIENT {
        if conn.is_none() {
            let url = &urls[rng.gen_range(0..urls.len())];
            conn = redis::Client::open(url.as_str())
                .ok()
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)).ok());
            if let Some(c) = &conn {
                c.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
                c.set_write_timeout(Some(Duration::from_secs(6))).unwrap();
            }
        }
        let Some(c) = conn.as_mut() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let key = rng.gen_range(0..KEYS);
        let name = format!("lin{key}");
        let call = origin.elapsed().as_nanos() as u64;
        let choice = rng.gen_range(0..10);
        let (op, ok) = if choice < 4 {
            match classify(redis::cmd("GET").arg(&name).query::<Option<i64>>(c)) {
                Outcome::Ok(v) => (Some(Op::Get(v)), true),
                // A read with an unknown outcome constrains nothing.
                _ => (None, false),
            }
        } else if choice < 7 {
            let v = (id * 1_000_000 + n) as i64;
            match classify(redis::cmd("SET").arg(&name).arg(v).query::<()>(c)) {
                Outcome::Ok(()) => (Some(Op::Set(v)), true),
                Outcome::Failed => (None, false),
                Outcome::Unknown => (Some(Op::Set(v)), false),
            }
        } else {
            match classify(redis::cmd("INCR").arg(&name).query::<i64>(c)) {
                Outcome::Ok(v) => (Some(Op::Incr(Some(v))), true),
                Outcome::Failed => (None, false),
                Outcome::Unknown => (Some(Op::Incr(None)), false),
            }
        };
        let ret = origin.elapsed().as_nanos() as u64;
        if let Some(op) = op {
            out.push((key, Event { client: id, op, call, ret: ok.then_some(ret) }));
        }
        if !ok {
            // A connection with an unknown or failed command starts over
            // (the node refuses further commands on a connection whose
            // write has an unknown outcome).
            conn = None;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..40)));
    }
    out
}

#[test]
fn histories_under_kills_pauses_and_partitions_are_linearizable() {
    run(7, 1000, false);
}

/// Longer search, run by hand: `LIN_SEEDS=100..120 cargo nextest run -p
/// kvtests --test linearizable --run-ignored only soak`. Each seed draws
/// its own fault schedule and client operations, and adds faults aimed at
/// the leader of a key's partition (killed, paused, isolated), where a
/// stale read or a lost write would show first.
#[test]
#[ignore = "soak: LIN_SEEDS=a..b"]
fn soak() {
    let seeds = std::env::var("LIN_SEEDS").unwrap_or_else(|_| "100..103".into());
    let (lo, hi) = seeds
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("LIN_SEEDS=lo..hi");
    for seed in lo..hi {
        eprintln!("seed {seed}");
        run(seed, seed * 100, true);
    }
}

/// Five clients against one cluster while a nemesis drawn from
/// `nemesis_seed` injects one fault at a time; with `at_leaders`, half the
/// faults hit the current leader of a random key's partition.
fn run(nemesis_seed: u64, client_seed: u64, at_leaders: bool) {
    let mut cl = Cluster::start(ClusterOptions::default());
    let urls: Vec<String> = (0..cl.len()).map(|i| cl.url(i)).collect();
    let origin = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (urls, done) = (urls.clone(), done.clone());
            std::thread::spawn(move || {
                let h = run_client(id, urls, origin, client_seed + id as u64);
                done.store(true, Ordering::Relaxed);
                h
            })
        })
        .collect();

    // The nemesis: one fault at a time (a majority stays up), until the
    // first client finishes, at most 40 s.
    let mut rng = rand::rngs::StdRng::seed_from_u64(nemesis_seed);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut faults = Vec::new();
    while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..800)));
        let victim = if at_leaders && rng.gen_bool(0.5) {
            let partition = cl.partition_of(&format!("lin{}", rng.gen_range(0..KEYS)));
            cl.leader_of(partition, &[], Duration::from_secs(20))
        } else {
            rng.gen_range(0..cl.len())
        };
        let hold = Duration::from_millis(rng.gen_range(500..2000));
        match rng.gen_range(0..5) {
            0 => {
                faults.push(format!("kill -9 node {}", victim + 1));
                cl.kill9(victim);
                std::thread::sleep(hold);
                cl.restart(victim);
            }
            1 => {
                faults.push(format!("SIGSTOP node {}", victim + 1));
                cl.pause(victim);
                std::thread::sleep(hold);
                cl.resume(victim);
            }
            2 => {
                faults.push(format!("isolate node {}", victim + 1));
                cl.isolate(victim);
                std::thread::sleep(hold);
                cl.heal_all();
            }
            3 => {
                // A leadership hand-over: commands reaching the old leader
                // meanwhile are refused and sent again by the nodes.
                let p = cl.partition_of(&format!("lin{}", rng.gen_range(0..KEYS)));
                let to = victim + 1;
                let (code, _) = cl.post(victim, &format!("/admin/partitions/{p}/transfer-leader?node={to}"));
                faults.push(format!("move partition {p}'s leadership to node {to} (HTTP {code})"));
            }
            _ => {
                let other = (victim + 1 + rng.gen_range(0..cl.len() - 1)) % cl.len();
                faults.push(format!("cut link {} -> {}", victim + 1, other + 1));
                cl.link(victim, other).cut();
                std::thread::sleep(hold);
                cl.heal_all();
            }
        }
    }
    let mut histories: Vec<Vec<Event>> = vec![Vec::new(); KEYS];
    for c in clients {
        for (k, e) in c.join().unwrap() {
            histories[k].push(e);
        }
    }
    eprintln!("faults: {faults:?}");
    let mut acknowledged = 0;
    for (k, h) in histories.iter().enumerate() {
        let unknown = h.iter().filter(|e| e.ret.is_none()).count();
        acknowledged += h.len() - unknown;
        eprintln!("key lin{k}: {} operations, {unknown} with unknown outcome", h.len());
        assert!(check(h, None), "history of lin{k} is not linearizable: {h:#?}");
    }
    assert!(!faults.is_empty());
    // The test means something only if the clients got work done.
    assert!(acknowledged > CLIENTS * OPS_PER_CLIENT / 2, "only {acknowledged} operations acknowledged");
}
