//! WAL behaviour on real files (and on the crash-simulating file layer).

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use wal::fs::CrashFs;
use wal::{Error, HardState, LogEntry, Options, Wal, WalOp as Op};

fn entry(index: u64, term: u64, group: u64) -> LogEntry {
    LogEntry { index, term, data: Bytes::from(format!("g{group}-i{index}-t{term}")) }
}

fn entries(group: u64, lo: u64, hi: u64, term: u64) -> Op {
    Op::Entries { group, entries: (lo..=hi).map(|i| entry(i, term, group)).collect() }
}

fn small_segments() -> Options {
    Options { segment_size: 4096, ..Options::default() }
}

fn all(wal: &Wal, group: u64) -> Vec<LogEntry> {
    let (first, last) = wal.bounds(group).unwrap();
    if last < first {
        return vec![];
    }
    wal.entries(group, first, last + 1, None).unwrap()
}

#[test]
fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        wal.append(vec![
            entries(1, 1, 3, 1),
            Op::HardState { group: 1, state: HardState { term: 1, vote: 7, commit: 2 } },
        ])
        .unwrap();
        assert_eq!(all(&wal, 1), (1..=3).map(|i| entry(i, 1, 1)).collect::<Vec<_>>());
        assert_eq!(wal.term(1, 2).unwrap(), 1);
    }
    let wal = Wal::open(dir.path(), Options::default()).unwrap();
    assert_eq!(wal.bounds(1), Some((1, 3)));
    assert_eq!(all(&wal, 1)[2], entry(3, 1, 1));
    assert_eq!(wal.hard_state(1), Some(HardState { term: 1, vote: 7, commit: 2 }));
    assert!(matches!(wal.entries(1, 1, 5, None), Err(Error::Unavailable { .. })));
    assert!(wal.bounds(2).is_none());
}

#[test]
fn max_bytes_limits_but_returns_one() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options::default()).unwrap();
    wal.append(vec![entries(1, 1, 10, 1)]).unwrap();
    assert_eq!(wal.entries(1, 1, 11, Some(0)).unwrap().len(), 1);
    let one = entry(1, 1, 1).data.len() as u64;
    assert_eq!(wal.entries(1, 1, 11, Some(one * 3)).unwrap().len(), 3);
}

#[test]
fn many_groups_interleaved_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), small_segments()).unwrap();
        for i in 1..=200u64 {
            wal.append((1..=10u64).map(|g| entries(g, i, i, g)).collect()).unwrap();
        }
        assert!(wal.segments().len() > 5, "small segments rotate");
    }
    let wal = Wal::open(dir.path(), Options { cache_bytes: 0, ..small_segments() }).unwrap();
    assert_eq!(wal.groups(), (1..=10).collect::<Vec<_>>());
    for g in 1..=10u64 {
        assert_eq!(all(&wal, g), (1..=200).map(|i| entry(i, g, g)).collect::<Vec<_>>());
    }
}

#[test]
fn truncate_conflicting_suffix() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        wal.append(vec![entries(1, 1, 10, 1)]).unwrap();
        // A new leader in term 2 overwrites from index 6.
        wal.append(vec![entries(1, 6, 7, 2)]).unwrap();
        assert_eq!(wal.bounds(1), Some((1, 7)));
        assert_eq!(wal.term(1, 5).unwrap(), 1);
        assert_eq!(wal.term(1, 6).unwrap(), 2);
        // A gap is refused and nothing of the batch is written.
        let err = wal.append(vec![entries(2, 1, 1, 1), entries(1, 9, 9, 2)]).unwrap_err();
        assert!(matches!(err, Error::Misfit(_)), "{err}");
        assert!(wal.bounds(2).is_none());
    }
    let wal = Wal::open(dir.path(), Options::default()).unwrap();
    assert_eq!(wal.bounds(1), Some((1, 7)));
    assert_eq!(all(&wal, 1)[6], entry(7, 2, 1));
}

#[test]
fn compact_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        wal.append(vec![entries(1, 1, 10, 3), entries(2, 1, 5, 1)]).unwrap();
        wal.append(vec![Op::Compact { group: 1, index: 4, term: 3 }]).unwrap();
        assert_eq!(wal.bounds(1), Some((5, 10)));
        assert_eq!(wal.term(1, 4).unwrap(), 3, "the mark keeps the term of the last compacted entry");
        assert!(matches!(wal.term(1, 3), Err(Error::Compacted { .. })));
        assert!(matches!(wal.entries(1, 4, 6, None), Err(Error::Compacted { .. })));
        // A snapshot replaces group 2's log.
        wal.append(vec![Op::Reset { group: 2, index: 100, term: 4 }, entries(2, 101, 102, 4)]).unwrap();
        // Appending below the mark is refused.
        assert!(wal.append(vec![entries(1, 3, 3, 3)]).is_err());
    }
    let wal = Wal::open(dir.path(), Options::default()).unwrap();
    assert_eq!(wal.bounds(1), Some((5, 10)));
    assert_eq!(wal.mark(1), Some((4, 3)));
    assert_eq!(wal.bounds(2), Some((101, 102)));
    assert_eq!(wal.term(2, 100).unwrap(), 4);
}

#[test]
fn purge_moves_lagging_groups_forward() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options { segment_size: 2048, ..Options::default() };
    {
        let wal = Wal::open(dir.path(), opts()).unwrap();
        // Group 9 writes once and then idles: its records sit in the first segment.
        wal.append(vec![
            entries(9, 1, 2, 1),
            Op::HardState { group: 9, state: HardState { term: 1, vote: 1, commit: 2 } },
        ])
        .unwrap();
        for i in 1..=600u64 {
            wal.append(vec![entries(1, i, i, 1)]).unwrap();
            if i % 50 == 0 {
                wal.append(vec![Op::Compact { group: 1, index: i - 5, term: 1 }]).unwrap();
            }
        }
        let before = wal.segments();
        assert!(before.len() > 10);
        let deleted = wal.purge().unwrap();
        let after = wal.segments();
        assert!(deleted > 0 && after.len() < before.len(), "{before:?} -> {after:?}");
        assert!(after[0] > before[0], "the idle group no longer pins the first segment");
        // Group 1 still holds entries since its last compaction, so segments
        // holding them survive.
        assert_eq!(wal.bounds(1), Some((596, 600)));
        // The removed group's records no longer pin anything.
        wal.append(vec![Op::RemoveGroup { group: 9 }]).unwrap();
    }
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert!(wal.bounds(9).is_none());
    assert_eq!(all(&wal, 1), (596..=600).map(|i| entry(i, 1, 1)).collect::<Vec<_>>());
}

/// A group whose records are in the newest closed segment is left for its
/// own compaction (moving it would rewrite entries about to be dropped); a
/// group still pinning a segment after a further rotation is moved.
#[test]
fn purge_moves_only_groups_that_pin_an_older_segment_than_the_newest_closed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options { segment_size: 2048, ..Options::default() }).unwrap();
    wal.append(vec![entries(9, 1, 2, 1)]).unwrap();
    // Fill the first segment with group 1 until the WAL rotates once.
    let mut i = 0;
    while wal.segments().len() < 2 {
        i += 1;
        wal.append(vec![entries(1, i, i, 1)]).unwrap();
    }
    let first = wal.segments()[0];
    assert_eq!(wal.purge().unwrap(), 0);
    assert_eq!(wal.segments()[0], first, "groups pinning only the newest closed segment are not moved");
    // Group 1 compacts: the segment goes without any move.
    wal.append(vec![Op::Compact { group: 1, index: i, term: 1 }, Op::Compact { group: 9, index: 2, term: 1 }]).unwrap();
    assert_eq!(wal.purge().unwrap(), 1);
    assert!(wal.segments()[0] > first);
    // Group 9 idles from here on; once a further segment closes, the one
    // it pins is no longer the newest closed and it is moved forward.
    let pinned = wal.segments()[0];
    while wal.segments().iter().filter(|s| **s > pinned).count() < 2 {
        i += 1;
        wal.append(vec![entries(1, i, i, 1), Op::Compact { group: 1, index: i, term: 1 }]).unwrap();
    }
    assert!(wal.purge().unwrap() >= 1);
    assert!(wal.segments()[0] > pinned, "the idle group was moved off its segment");
    assert_eq!(wal.mark(9), Some((2, 1)));
}

#[test]
fn purge_keeps_moved_state_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options { segment_size: 2048, ..Options::default() };
    {
        let wal = Wal::open(dir.path(), opts()).unwrap();
        wal.append(vec![
            entries(9, 1, 3, 2),
            Op::HardState { group: 9, state: HardState { term: 2, vote: 1, commit: 3 } },
            Op::Compact { group: 9, index: 1, term: 2 },
        ])
        .unwrap();
        for i in 1..=100u64 {
            wal.append(vec![entries(1, i, i, 1), Op::Compact { group: 1, index: i, term: 1 }]).unwrap();
        }
        assert!(wal.purge().unwrap() > 0);
        // After the move, group 9 continues normally and may even overwrite.
        wal.append(vec![entries(9, 3, 4, 3)]).unwrap();
    }
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(wal.mark(9), Some((1, 2)));
    assert_eq!(all(&wal, 9), vec![entry(2, 2, 9), entry(3, 3, 9), entry(4, 3, 9)]);
    assert_eq!(wal.hard_state(9), Some(HardState { term: 2, vote: 1, commit: 3 }));
    assert_eq!(wal.bounds(1), Some((101, 100)));
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::default()).unwrap());
    let threads: Vec<_> = (1..=8u64)
        .map(|g| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 1..=100 {
                    wal.append(vec![entries(g, i, i, 1)]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let fsyncs = wal.stats.fsyncs.load(std::sync::atomic::Ordering::Relaxed);
    assert!(fsyncs <= 800, "at most one fsync per append");
    for g in 1..=8 {
        assert_eq!(wal.bounds(g), Some((1, 100)));
    }
}

// ---------------------------------------------------------------------------
// Crash safety.

const GROUPS: u64 = 4;

/// One step of the crash workload: appends batch `i` (one entry at index i for
/// every group plus a hard state), compacting and purging now and then.
fn workload_step(wal: &Wal, i: u64) {
    let mut ops: Vec<Op> = (0..GROUPS).map(|g| Op::Entries { group: g, entries: vec![entry(i, 1, g)] }).collect();
    ops.push(Op::HardState { group: 0, state: HardState { term: 1, vote: 1, commit: i } });
    wal.append(ops).unwrap();
    if i.is_multiple_of(37) {
        let group = i % GROUPS;
        wal.append(vec![Op::Compact { group, index: i - 10, term: 1 }]).unwrap();
        wal.purge().unwrap();
    }
}

/// Checks the recovered log against the highest acknowledged batch; returns
/// the next batch to write.
fn verify_recovered(wal: &Wal, acked: u64) -> Result<u64, String> {
    let mut lasts = Vec::new();
    for g in 0..GROUPS {
        let Some((first, last)) = wal.bounds(g) else {
            if acked > 0 {
                return Err(format!("group {g} lost entirely (acked {acked})"));
            }
            lasts.push(0);
            continue;
        };
        if last < acked {
            return Err(format!("group {g}: last {last} < acknowledged {acked}"));
        }
        if last >= first {
            let es = wal.entries(g, first, last + 1, None).map_err(|e| e.to_string())?;
            for (k, e) in es.iter().enumerate() {
                if *e != entry(first + k as u64, 1, g) {
                    return Err(format!("group {g}: wrong entry at {}", first + k as u64));
                }
            }
        }
        lasts.push(last);
    }
    let (min, max) = (*lasts.iter().min().unwrap(), *lasts.iter().max().unwrap());
    if max > min + 1 {
        return Err(format!("a gap: group lasts {lasts:?}"));
    }
    Ok(min + 1)
}

/// Entry point of the child process of `sigkill_during_appends`: appends
/// batches forever, printing the number of each batch once append returned.
#[test]
fn crash_child_entry() {
    let Ok(dir) = std::env::var("WAL_CRASH_CHILD_DIR") else {
        return;
    };
    use std::io::Write;
    let wal = Wal::open(&dir, Options { segment_size: 32 << 10, ..Options::default() }).unwrap();
    let mut i = verify_recovered(&wal, 0).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        workload_step(&wal, i);
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

#[test]
fn sigkill_during_appends() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut acked = 0u64;
    for round in 0..50 {
        let mut child = Command::new(&exe)
            .args(["crash_child_entry", "--exact", "--nocapture", "--test-threads", "1"])
            .env("WAL_CRASH_CHILD_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = rng.gen_range(20..400);
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        // Kill after a random number of acknowledged batches (plus whatever
        // the child does while the signal is on its way).
        while let Some(Ok(line)) = lines.next() {
            if let Ok(i) = line.trim().parse::<u64>() {
                acked = acked.max(i);
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        // Drain what the child printed before it died: those were acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Ok(i) = line.trim().parse::<u64>() {
                acked = acked.max(i);
            }
        }
        child.wait().unwrap();
        let wal = Wal::open(dir.path(), Options { segment_size: 32 << 10, ..Options::default() }).unwrap();
        verify_recovered(&wal, acked).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert!(acked > 1000);
}

/// Options for a WAL on the crash-simulating file layer `fs` (its state now).
fn on_crash_fs(fs: &CrashFs, segment_size: u64) -> Options {
    Options { segment_size, fs: Arc::new(fs.clone()), ..Options::default() }
}

/// Runs the workload on the crash-simulating file layer, crashing at random
/// points; returns the first verification failure.
fn simulated_crashes(skip_fsync: bool, rounds: usize) -> Result<(), String> {
    let mut fs = CrashFs::new();
    let dir = Path::new("/wal");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut acked = 0;
    for _ in 0..rounds {
        let opts = Options { unsafe_skip_fsync: skip_fsync, ..on_crash_fs(&fs, 16 << 10) };
        let wal = Wal::open(dir, opts).map_err(|e| e.to_string())?;
        let first = verify_recovered(&wal, acked)?;
        for i in first..first + rng.gen_range(1..200) {
            workload_step(&wal, i);
            acked = i;
        }
        // Power loss: what was not fsynced is gone.
        fs = fs.crash();
    }
    let wal = Wal::open(dir, Options { fs: Arc::new(fs), ..Options::default() }).map_err(|e| e.to_string())?;
    verify_recovered(&wal, acked).map(|_| ())
}

#[test]
fn simulated_power_loss_keeps_every_acknowledged_batch() {
    simulated_crashes(false, 60).unwrap();
}

#[test]
fn simulated_power_loss_catches_a_wal_that_skips_fsync() {
    let result = simulated_crashes(true, 60);
    assert!(result.is_err(), "a WAL without fsync must lose acknowledged batches in this test");
}

// ---------------------------------------------------------------------------
// Damage on disk.

fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn torn_tail_is_truncated() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for trial in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        {
            let wal = Wal::open(dir.path(), Options::default()).unwrap();
            for i in 1..=50 {
                wal.append(vec![entries(1, i, i, 1)]).unwrap();
            }
        }
        let path = segment_paths(dir.path()).pop().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let cut = rng.gen_range(16..len);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(cut as usize);
        let tail_len = rng.gen_range(0..200);
        if trial % 2 == 0 {
            bytes.extend(std::iter::repeat_n(0u8, tail_len));
        } else {
            bytes.extend((0..tail_len).map(|_| rng.gen::<u8>()));
        }
        std::fs::write(&path, &bytes).unwrap();

        let wal = Wal::open(dir.path(), Options::default()).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        let got = wal.bounds(1).map_or(vec![], |_| all(&wal, 1));
        assert_eq!(got, (1..=got.len() as u64).map(|i| entry(i, 1, 1)).collect::<Vec<_>>());
        // The log goes on from the recovered prefix and survives another reopen.
        let next = got.len() as u64 + 1;
        wal.append(vec![entries(1, next, next, 2)]).unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        assert_eq!(wal.bounds(1).unwrap().1, next);
    }
}

#[test]
fn corruption_in_an_older_segment_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), small_segments()).unwrap();
        for i in 1..=400 {
            wal.append(vec![entries(1, i, i, 1)]).unwrap();
        }
    }
    let paths = segment_paths(dir.path());
    assert!(paths.len() > 2);
    let victim = &paths[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = 16 + 9 + 20; // inside the first record's payload
    bytes[at] ^= 0xff;
    std::fs::write(victim, &bytes).unwrap();
    match Wal::open(dir.path(), small_segments()) {
        Err(Error::Corrupt { file, offset, .. }) => {
            assert_eq!(&file, victim);
            assert_eq!(offset, 16);
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("corruption went unnoticed"),
    }
}

// ---------------------------------------------------------------------------
// Unsynced appends (hard states that only raise the commit index).

fn commit_only(group: u64, commit: u64) -> Op {
    Op::HardState { group, state: HardState { term: 1, vote: 0, commit } }
}

#[test]
fn an_unsynced_append_becomes_durable_with_the_next_synced_one_even_across_rotation() {
    let mut fs = CrashFs::new();
    let dir = Path::new("/wal");
    // Tiny segments: the unsynced record often ends a segment, and the next
    // synced append then starts a new one.
    let opts = |fs: &CrashFs| on_crash_fs(fs, 200);
    let mut rotations = 0;
    for k in 1..=40u64 {
        let wal = Wal::open(dir, opts(&fs)).unwrap();
        let before = wal.segments().len();
        wal.append_unsynced(vec![commit_only(1, k - 1)]).unwrap();
        wal.append(vec![entries(1, k, k, 1)]).unwrap();
        rotations += wal.segments().len() - before;
        drop(wal);
        fs = fs.crash();
        let wal = Wal::open(dir, opts(&fs)).unwrap();
        assert_eq!(wal.bounds(1).map(|(_, last)| last), Some(k), "round {k}: the synced entry survives");
        assert_eq!(
            wal.hard_state(1).map(|h| h.commit),
            Some(k - 1),
            "round {k}: the unsynced hard state before it too"
        );
    }
    assert!(rotations > 5, "the test must cross segment boundaries ({rotations} rotations)");
}

#[test]
fn an_unsynced_append_may_be_lost_but_never_breaks_recovery() {
    let mut fs = CrashFs::new();
    let dir = Path::new("/wal");
    let opts = |fs: &CrashFs| on_crash_fs(fs, Options::default().segment_size);
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    wal.append(vec![entries(1, 1, 3, 1), commit_only(1, 1)]).unwrap();
    wal.append_unsynced(vec![commit_only(1, 3)]).unwrap();
    assert_eq!(wal.hard_state(1).unwrap().commit, 3, "readable at once");
    drop(wal);
    fs = fs.crash();
    let wal = Wal::open(dir, opts(&fs)).unwrap();
    assert_eq!(wal.hard_state(1).unwrap().commit, 1, "power loss took only the unsynced record");
    assert_eq!(all(&wal, 1).len(), 3);
}

// ---------------------------------------------------------------------------
// Preallocated segments: the next segment is zero-filled in the background.

/// Appends entries `from..` of group 1 one batch each until `done` says so;
/// returns the next index.
fn append_until(wal: &Wal, from: u64, done: impl Fn(&Wal) -> bool) -> u64 {
    let mut i = from;
    while !done(wal) {
        wal.append(vec![entries(1, i, i, 1)]).unwrap();
        i += 1;
        assert!(i < from + 100_000, "condition never met");
    }
    i
}

fn wait_prepared(wal: &Wal) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !wal.next_segment_ready() {
        assert!(std::time::Instant::now() < deadline, "no prepared segment within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn rotation_moves_onto_a_prepared_segment_and_keeps_its_zeros_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let size = 64 << 10;
    let opts = || Options { segment_size: size, ..Options::default() };
    let wal = Wal::open(dir.path(), opts()).unwrap();
    // A new log's first segment is a plain file: one is prepared at open,
    // and the first append once it is ready goes into it.
    wait_prepared(&wal);
    let next = append_until(&wal, 1, |w| w.segments().len() == 2);
    assert_eq!(next, 2, "the first append after the preparation moved onto it");
    assert!(!dir.path().join("next-segment.tmp").exists(), "the prepared file was renamed into place");
    let next = append_until(&wal, next, |w| w.next_segment_ready());
    assert_eq!(wal.segments().len(), 2, "the next preparation starts at half the segment, long before it is full");
    let paths = segment_paths(dir.path());
    assert_eq!(std::fs::metadata(&paths[1]).unwrap().len(), size, "the new segment is the prepared, full-size file");
    drop(wal);

    // The zeros after the log's end are kept across a reopen, and the log
    // goes on inside them.
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&wal, 1), (1..next).map(|i| entry(i, 1, 1)).collect::<Vec<_>>());
    wal.append(vec![entries(1, next, next + 9, 2)]).unwrap();
    drop(wal);
    assert_eq!(std::fs::metadata(&paths[1]).unwrap().len(), size);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(wal.bounds(1), Some((1, next + 9)));
}

#[test]
fn a_segment_left_before_its_zeros_are_used_is_cut_to_its_records() {
    // A rotation normally leaves a full segment; one left early (here: a
    // restart with a smaller segment size) must not keep its zeros, since
    // only the last segment may end in them.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options { segment_size: 64 << 10, ..Options::default() }).unwrap();
    // Wait for the preparation kicked at open without appending: appending
    // until it is ready raced with it (an append could move onto the
    // prepared segment and fill half of it before the next one was ready).
    wait_prepared(&wal);
    let next = append_until(&wal, 1, |w| w.segments().len() == 2);
    assert_eq!(next, 2, "the first append moved onto the prepared segment");
    drop(wal);
    let prepared = segment_paths(dir.path()).pop().unwrap();
    assert_eq!(std::fs::metadata(&prepared).unwrap().len(), 64 << 10);

    let wal = Wal::open(dir.path(), Options { segment_size: 4096, ..Options::default() }).unwrap();
    let next = append_until(&wal, next, |w| w.segments().len() == 3);
    drop(wal);
    let bytes = std::fs::read(&prepared).unwrap();
    assert!(bytes.len() < 32 << 10, "cut at its last record ({} bytes)", bytes.len());
    assert_ne!(bytes.last(), Some(&0));
    let wal = Wal::open(dir.path(), Options { segment_size: 4096, ..Options::default() }).unwrap();
    assert_eq!(wal.bounds(1), Some((1, next - 1)));
}

#[test]
fn a_leftover_prepared_file_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options { segment_size: 64 << 10, ..Options::default() };
    // A log whose active segment is a prepared one, barely used: opening it
    // prepares no next segment, so no new file of that name appears while
    // the test looks. (A new log's plain first segment gets one prepared at
    // open, in the background: a race with the check below.)
    let wal = Wal::open(dir.path(), opts()).unwrap();
    wait_prepared(&wal);
    append_until(&wal, 1, |w| w.segments().len() == 2);
    drop(wal);
    std::fs::write(dir.path().join("next-segment.tmp"), vec![0u8; 4096]).unwrap();
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert!(!dir.path().join("next-segment.tmp").exists());
    assert_eq!(wal.segments().len(), 2);
}

#[test]
fn a_torn_record_inside_a_prepared_segment_is_cut_and_leaves_no_stale_tail() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options { segment_size: 64 << 10, ..Options::default() };
    let wal = Wal::open(dir.path(), opts()).unwrap();
    let next = append_until(&wal, 1, |w| w.next_segment_ready());
    wait_prepared(&wal);
    let next = append_until(&wal, next, |w| w.segments().len() == 2);
    drop(wal);
    // An unsynced write that half reached the disk: bytes of a record past
    // the log's end, inside the zeros.
    let path = segment_paths(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    bytes[end + 100..end + 140].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();

    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(wal.bounds(1), Some((1, next - 1)), "every record before the damage is kept");
    wal.append(vec![entries(1, next, next, 2)]).unwrap();
    drop(wal);
    assert!(
        std::fs::metadata(&path).unwrap().len() < end as u64 + 100,
        "the damaged tail was cut, not left behind the new records"
    );
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(wal.bounds(1), Some((1, next)));
}

#[test]
fn power_loss_around_prepared_segments_keeps_every_acknowledged_batch() {
    let mut fs = CrashFs::new();
    let dir = Path::new("/wal");
    let opts = |fs: &CrashFs| on_crash_fs(fs, 4096);
    let mut next = 1;
    let mut rotations_onto_prepared = 0;
    for round in 0..30 {
        let wal = Wal::open(dir, opts(&fs)).unwrap();
        assert_eq!(wal.bounds(1).map_or(0, |(_, last)| last), next - 1, "round {round}: acknowledged entries survive");
        // Fill to the half, let the preparation finish, and cross into the
        // prepared segment; crash at a different point each round.
        next = append_until(&wal, next, |w| w.next_segment_ready());
        let before = wal.segments().len();
        match round % 3 {
            0 => {} // the prepared file exists but is not in use yet
            _ => {
                wait_prepared(&wal);
                next = append_until(&wal, next, |w| w.segments().len() > before);
                rotations_onto_prepared += 1;
                if round % 3 == 2 {
                    // Records inside the preallocated zeros.
                    next = append_until(&wal, next, |w| w.next_segment_ready() || w.segments().len() > before + 1);
                }
            }
        }
        fs = fs.crash();
    }
    assert!(rotations_onto_prepared >= 20);
}
