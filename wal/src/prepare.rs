//! The next segment, made ready in the background: a file of the full
//! segment size, zero-filled and synced before the WAL needs it.
//!
//! Why: an fdatasync after appending to the end of a file must also commit
//! the file's new size and block map (an ext4 journal commit: more device
//! writes and flushes per sync). Inside a file whose blocks are already
//! written, size and map do not change, so the fdatasync only flushes the
//! data. The blocks must really be written with zeros: fallocate leaves them
//! "unwritten", and converting them on first write is a metadata change
//! again.
//!
//! The file is written under a temporary name (never a segment name, so
//! recovery never reads it) and renamed when the WAL rotates onto it. When no
//! prepared file is ready at rotation, the WAL creates a plain segment as
//! before: preparation only ever makes rotation cheaper, never waits.

use crate::fs::{FileSystem, WalFile};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The temporary name of a segment being prepared. Recovery removes a
/// leftover one (a crash while preparing).
pub(crate) const PREPARED_NAME: &str = "next-segment.tmp";

enum Slot {
    Idle,
    Busy,
    Ready(Arc<dyn WalFile>),
    /// The last attempt failed; not retried before the next rotation.
    Failed,
}

pub(crate) struct Preparer {
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    size: u64,
    slot: Arc<Mutex<Slot>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Set when the WAL closes: a preparation under way gives up.
    closing: Arc<AtomicBool>,
}

impl Preparer {
    pub(crate) fn new(fs: Arc<dyn FileSystem>, dir: &Path, size: u64) -> Preparer {
        Preparer {
            fs,
            path: dir.join(PREPARED_NAME),
            size,
            slot: Arc::new(Mutex::new(Slot::Idle)),
            worker: Mutex::new(None),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts preparing the next segment unless one is ready or on its way.
    pub(crate) fn kick(&self) {
        {
            let mut slot = self.slot.lock();
            if !matches!(*slot, Slot::Idle) {
                return;
            }
            *slot = Slot::Busy;
        }
        let (fs, path, size, slot) = (self.fs.clone(), self.path.clone(), self.size, self.slot.clone());
        let closing = self.closing.clone();
        let spawned = std::thread::Builder::new().name("wal-prepare".into()).spawn(move || {
            let outcome = zero_filled(&*fs, &path, size, &closing);
            *slot.lock() = match outcome {
                Ok(file) => Slot::Ready(file),
                Err(e) => {
                    if !closing.load(Ordering::Relaxed) {
                        tracing::warn!("wal: preparing the next segment {}: {e}; rotating without one", path.display());
                    }
                    let _ = fs.remove(&path);
                    Slot::Failed
                }
            };
        });
        match spawned {
            Ok(handle) => {
                if let Some(old) = self.worker.lock().replace(handle) {
                    let _ = old.join();
                }
            }
            Err(e) => {
                tracing::warn!("wal: cannot start the segment preparer: {e}");
                *self.slot.lock() = Slot::Failed;
            }
        }
    }

    /// The prepared file, if one is ready; the caller renames it into place.
    /// Either way the next kick may prepare again.
    pub(crate) fn take(&self) -> Option<Arc<dyn WalFile>> {
        let mut slot = self.slot.lock();
        match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Ready(file) => Some(file),
            Slot::Busy => {
                *slot = Slot::Busy;
                None
            }
            Slot::Idle | Slot::Failed => None,
        }
    }

    /// True once a prepared file is waiting (for tests).
    pub(crate) fn is_ready(&self) -> bool {
        matches!(*self.slot.lock(), Slot::Ready(_))
    }
}

impl Drop for Preparer {
    /// Stops a preparation under way and waits for it, so that no thread
    /// still writes in the directory once the WAL is gone (a reopened WAL may
    /// be there).
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        if let Some(handle) = self.worker.lock().take() {
            let _ = handle.join();
        }
    }
}

fn zero_filled(fs: &dyn FileSystem, path: &Path, size: u64, closing: &AtomicBool) -> std::io::Result<Arc<dyn WalFile>> {
    let file = fs.create(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        if closing.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "the wal is closing"));
        }
        let n = (size - at).min(zeros.len() as u64);
        file.write_at(&zeros[..n as usize], at)?;
        at += n;
    }
    file.sync_data()?;
    Ok(file)
}
