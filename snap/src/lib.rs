//! Partition snapshots as files plus a manifest, and their rsync-style
//! transfer between nodes.
//!
//! A snapshot is a directory of files (SST files of one partition's key
//! range, written by the node from one RocksDB snapshot) described by a
//! [`Manifest`]: file names, sizes and CRC32s, the raft index and term it
//! covers, the ConfState, and the partition's own state record. The raft
//! snapshot message carries only the manifest; the receiver pulls the files
//! ([`pull`]): it skips files it already holds intact, resumes partial ones
//! from their length, fetches the rest in chunks at no more than a bandwidth
//! limit, and verifies every checksum before the snapshot may be installed.

pub mod proto;

pub use proto::{FileMeta, Manifest, SnapMsg, SnapMsgKind};

use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Size of one fetched chunk.
pub const CHUNK: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("snapshot io on {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("checksum mismatch for {file}: expected {want:08x}, got {got:08x}")]
    Checksum { file: String, want: u32, got: u32 },
    #[error("fetching {file} at {offset}: {msg}")]
    Fetch { file: String, offset: u64, msg: String },
    #[error("invalid file name in manifest: {0}")]
    BadName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapError + '_ {
    move |err| SnapError::Io { path: path.to_path_buf(), err }
}

/// The directory name of a snapshot: unique per (group, index, term).
pub fn snapshot_dir_name(group: u64, index: u64, term: u64) -> String {
    format!("g{group}-i{index}-t{term}")
}

/// CRC32 and size of a file.
pub fn checksum(path: &Path) -> Result<(u64, u32), SnapError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, h.finalize()))
}

/// Describes the files in `dir` for a manifest.
pub fn describe(dir: &Path, names: &[String]) -> Result<Vec<FileMeta>, SnapError> {
    names
        .iter()
        .map(|n| {
            let (size, crc32) = checksum(&dir.join(n))?;
            Ok(FileMeta { name: n.clone(), size, crc32 })
        })
        .collect()
}

fn safe_name(name: &str) -> Result<(), SnapError> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return Err(SnapError::BadName(name.to_string()));
    }
    Ok(())
}

/// Reads up to `len` bytes of `file` in a snapshot directory at `offset`
/// (the sending side of a fetch).
pub fn read_chunk(dir: &Path, file: &str, offset: u64, len: u64) -> Result<Vec<u8>, SnapError> {
    safe_name(file)?;
    let path = dir.join(file);
    let mut f = std::fs::File::open(&path).map_err(io(&path))?;
    f.seek(SeekFrom::Start(offset)).map_err(io(&path))?;
    let mut buf = Vec::with_capacity(len.min(CHUNK) as usize);
    f.take(len.min(CHUNK)).read_to_end(&mut buf).map_err(io(&path))?;
    Ok(buf)
}

/// What a pull did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PullStats {
    pub files_skipped: usize,
    pub files_resumed: usize,
    pub bytes_fetched: u64,
}

/// Pulls the files of `manifest` into `dir`, fetching chunks with `fetch(file,
/// offset, len)`. Files already present with the right size and checksum are
/// kept; shorter ones are resumed from their length. `bytes_per_sec` (0: no
/// limit) bounds the fetch rate. Every file's checksum is verified; a file
/// that does not match is deleted and the pull fails (the next attempt
/// fetches it again).
pub async fn pull<F, Fut>(
    manifest: &Manifest,
    dir: &Path,
    bytes_per_sec: u64,
    mut fetch: F,
) -> Result<PullStats, SnapError>
where
    F: FnMut(String, u64, u64) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut stats = PullStats::default();
    let started = Instant::now();
    for meta in &manifest.files {
        safe_name(&meta.name)?;
        let path = dir.join(&meta.name);
        let have = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if have == meta.size && checksum(&path)?.1 == meta.crc32 {
            stats.files_skipped += 1;
            continue;
        }
        let mut offset = if have < meta.size { have } else { 0 };
        if offset > 0 {
            stats.files_resumed += 1;
        }
        let mut f =
            std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&path).map_err(io(&path))?;
        f.set_len(offset).map_err(io(&path))?;
        f.seek(SeekFrom::Start(offset)).map_err(io(&path))?;
        while offset < meta.size {
            let len = (meta.size - offset).min(CHUNK);
            let data = fetch(meta.name.clone(), offset, len).await.map_err(|msg| SnapError::Fetch {
                file: meta.name.clone(),
                offset,
                msg,
            })?;
            if data.is_empty() {
                return Err(SnapError::Fetch { file: meta.name.clone(), offset, msg: "empty chunk".into() });
            }
            f.write_all(&data).map_err(io(&path))?;
            offset += data.len() as u64;
            stats.bytes_fetched += data.len() as u64;
            if bytes_per_sec > 0 {
                // Sleep until the bytes fetched so far fit the rate.
                let due = Duration::from_secs_f64(stats.bytes_fetched as f64 / bytes_per_sec as f64);
                let elapsed = started.elapsed();
                if due > elapsed {
                    tokio::time::sleep(due - elapsed).await;
                }
            }
        }
        f.sync_all().map_err(io(&path))?;
        drop(f);
        let (_, got) = checksum(&path)?;
        if got != meta.crc32 {
            let _ = std::fs::remove_file(&path);
            return Err(SnapError::Checksum { file: meta.name.clone(), want: meta.crc32, got });
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn source() -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.sst"), vec![7u8; (CHUNK * 2 + 123) as usize]).unwrap();
        std::fs::write(dir.path().join("b.sst"), b"small").unwrap();
        let files = describe(dir.path(), &["a.sst".into(), "b.sst".into()]).unwrap();
        (dir, Manifest { group: 1, index: 10, term: 2, files, ..Default::default() })
    }

    #[tokio::test]
    async fn pulls_verifies_skips_and_resumes() {
        let (src, m) = source();
        let dst = tempfile::tempdir().unwrap();
        let fetched = Arc::new(AtomicU64::new(0));
        let f = fetched.clone();
        let srcp = src.path().to_path_buf();
        // The first pull breaks after two chunks.
        let r = pull(&m, dst.path(), 0, |file, off, len| {
            let n = f.fetch_add(1, Ordering::Relaxed);
            let srcp = srcp.clone();
            async move {
                if n >= 2 {
                    return Err("connection broken".to_string());
                }
                read_chunk(&srcp, &file, off, len).map_err(|e| e.to_string())
            }
        })
        .await;
        assert!(r.is_err());
        // The second resumes a.sst from its length and fetches only the rest.
        let stats = pull(&m, dst.path(), 0, |file, off, len| {
            let srcp = srcp.clone();
            async move { read_chunk(&srcp, &file, off, len).map_err(|e| e.to_string()) }
        })
        .await
        .unwrap();
        assert_eq!(stats.files_resumed, 1);
        assert_eq!(stats.bytes_fetched, 123 + 5);
        // A third has nothing to fetch.
        let stats =
            pull(&m, dst.path(), 0, |_, _, _| async { Err::<Vec<u8>, _>("must not fetch".to_string()) }).await.unwrap();
        assert_eq!(stats.files_skipped, 2);
        assert_eq!(std::fs::read(dst.path().join("a.sst")).unwrap(), std::fs::read(src.path().join("a.sst")).unwrap());
    }

    #[tokio::test]
    async fn corrupted_data_is_rejected_and_refetched() {
        let (src, m) = source();
        let dst = tempfile::tempdir().unwrap();
        let srcp = src.path().to_path_buf();
        let r = pull(&m, dst.path(), 0, |file, off, len| {
            let srcp = srcp.clone();
            async move {
                let mut d = read_chunk(&srcp, &file, off, len).map_err(|e| e.to_string())?;
                d[0] ^= 1;
                Ok(d)
            }
        })
        .await;
        assert!(matches!(r, Err(SnapError::Checksum { .. })), "{r:?}");
        assert!(!dst.path().join("a.sst").exists());
    }

    #[tokio::test]
    async fn the_bandwidth_limit_is_obeyed() {
        let (src, m) = source();
        let dst = tempfile::tempdir().unwrap();
        let srcp = src.path().to_path_buf();
        let total: u64 = m.files.iter().map(|f| f.size).sum();
        let t = Instant::now();
        // 4 MiB/s for ~2 MiB: at least ~0.5 s.
        pull(&m, dst.path(), 4 << 20, |file, off, len| {
            let srcp = srcp.clone();
            async move { read_chunk(&srcp, &file, off, len).map_err(|e| e.to_string()) }
        })
        .await
        .unwrap();
        let min = Duration::from_secs_f64(total as f64 / (4u64 << 20) as f64 * 0.9);
        assert!(t.elapsed() >= min, "{:?} < {:?}", t.elapsed(), min);
    }
}
