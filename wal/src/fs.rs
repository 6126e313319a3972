//! The file operations the WAL needs, behind a trait so that tests can run the
//! WAL over a layer that forgets everything not fsynced at a simulated crash.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open segment file.
#[allow(clippy::len_without_is_empty)] // a segment is never asked whether it is empty
pub trait WalFile: Send + Sync {
    /// Writes `buf` at `offset`, extending the file if it ends before. The WAL
    /// writes at its own end of log, which in a preallocated segment lies
    /// before the file's end.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// fdatasync: after it returns, everything appended before is durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes and syncs it, data and size (drops a torn
    /// tail at recovery, and a preallocated segment's unused zeros when the
    /// WAL moves on from it).
    fn truncate(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
}

pub trait FileSystem: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names (not paths) of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a new empty file; fails if it exists.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>>;
    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames within one directory (durable with the next `sync_dir`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of the directory, so that creations and removals in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's files.
pub struct OsFs;

struct OsFile {
    file: File,
}

impl WalFile for OsFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

impl FileSystem for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        Ok(Arc::new(OsFile { file }))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(OsFile { file }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// An in-memory file system that models what survives a power loss: file
/// contents as of their last `sync_data`, and directory entries as of the last
/// `sync_dir`. `crash()` returns the file system a reboot would find.
#[derive(Clone, Default)]
pub struct CrashFs {
    state: Arc<Mutex<CrashState>>,
}

#[derive(Default)]
struct CrashState {
    /// What a reader sees now: path -> file.
    live: BTreeMap<PathBuf, Arc<MemFile>>,
    /// Which directory entries are durable: path -> file.
    durable_names: BTreeMap<PathBuf, Arc<MemFile>>,
    dirs: Vec<PathBuf>,
}

#[derive(Default)]
struct MemFile {
    data: Mutex<Vec<u8>>,
    durable: Mutex<Vec<u8>>,
}

impl CrashFs {
    pub fn new() -> CrashFs {
        CrashFs::default()
    }

    /// The state after a crash now: unsynced bytes and unsynced directory
    /// changes are gone. Handles to the old files must not be used afterwards.
    pub fn crash(&self) -> CrashFs {
        let st = self.state.lock();
        let mut live = BTreeMap::new();
        for (path, f) in &st.durable_names {
            let bytes = f.durable.lock().clone();
            live.insert(
                path.clone(),
                Arc::new(MemFile { data: Mutex::new(bytes.clone()), durable: Mutex::new(bytes) }),
            );
        }
        CrashFs { state: Arc::new(Mutex::new(CrashState { durable_names: live.clone(), live, dirs: st.dirs.clone() })) }
    }
}

impl WalFile for MemFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut d = self.data.lock();
        let end = offset as usize + buf.len();
        if d.len() < end {
            d.resize(end, 0);
        }
        d[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = self.data.lock();
        let end = offset as usize + buf.len();
        if end > d.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
        }
        buf.copy_from_slice(&d[offset as usize..end]);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let d = self.data.lock().clone();
        *self.durable.lock() = d;
        Ok(())
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.data.lock().truncate(len as usize);
        self.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.data.lock().len() as u64)
    }
}

impl FileSystem for CrashFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if !st.dirs.iter().any(|d| d == dir) {
            st.dirs.push(dir.to_path_buf());
        }
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state.lock();
        Ok(st
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect())
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let mut st = self.state.lock();
        if st.live.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
        }
        let f = Arc::new(MemFile::default());
        st.live.insert(path.to_path_buf(), f.clone());
        Ok(f)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn WalFile>> {
        let st = self.state.lock();
        match st.live.get(path) {
            Some(f) => Ok(f.clone()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        match self.state.lock().live.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        let f = st.live.remove(from).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        st.live.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        let st = &mut *st;
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, f) in &st.live {
            if p.parent() == Some(dir) {
                st.durable_names.insert(p.clone(), f.clone());
            }
        }
        Ok(())
    }
}
