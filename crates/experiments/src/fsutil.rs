//! File writing that never leaves a half-written result: write to a temporary file in the same
//! directory, flush it to disk, then rename it over the target (rename is atomic on POSIX).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary path next to `path` that keeps its extension (plotters picks the image format from it).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("out");
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    with_atomic_path(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// Calls `write(tmp)` to produce the file at a temporary path, then renames it to `path`; on error
/// the temporary file is removed and `path` is untouched.
pub fn with_atomic_path<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let tmp = temp_path(path);
    match write(&tmp) {
        Ok(()) => {
            std::fs::rename(&tmp, path)?;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
