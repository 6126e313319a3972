//! Files replaced whole or not at all: written to a temporary file beside
//! the target, synced, renamed over it, and the directory synced, so that
//! a crash at any point leaves the old file or the new one, never a part.
//! (The function libraries, the ACL file, SAVE's RDB file.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Replaces `path` with what `fill` writes; `fill`'s result. On any error
/// the temporary file is removed and `path` is left as it was.
pub fn replace_file<T>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        let out = fill(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(out)
    })();
    let out = match written {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(out)
}

/// Replaces `path` with `bytes`.
pub fn replace_with(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_file(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_with(&path, b"old").unwrap();
        let failed = replace_file(&path, |w| {
            w.write_all(b"partial")?;
            Err::<(), _>(std::io::Error::other("stopped"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!path.with_extension("tmp").exists());
        replace_with(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
