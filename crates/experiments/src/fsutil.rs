//! File writing that never leaves a half-written result: write to a temporary file in the same
//! directory, flush it to disk, then rename it over the target (rename is atomic on POSIX).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary path next to `path` that keeps its extension (plotters picks the image format from it).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("out");
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (a set of one, see [`write_set_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_set_atomic(&[(path, bytes)])
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
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            E::from(e)
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes several files so that they change together as far as the file system allows: every
/// temporary file is written and flushed first, then all are renamed in order (microseconds
/// apart). On error nothing is renamed and the temporary files are removed. Readers that must
/// not mix old and new files check a stamp written last (see `manifest::Stamp`).
pub fn write_set_atomic(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    let written = files.iter().try_for_each(|(path, bytes)| {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let tmp = temp_path(path);
        temps.push(tmp.clone());
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    for (i, ((path, _), tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            for t in &temps[i..] {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Removes the temporary files (`.tmp-<pid>-…`, see [`temp_path`]) that a killed process left in
/// `dir`: those whose process is gone (no `/proc/<pid>`) and that were last written over an hour
/// ago (so that a live process in another PID namespace, or under a `/proc` that hides it, keeps
/// its files). Does nothing without `/proc/self` or if `dir` is missing.
pub fn remove_stale_temps(dir: &Path) {
    const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".tmp-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `dir` if needed and checks that a file can be written in it, so that a bad output
/// directory fails before any work rather than after it.
pub fn ensure_writable_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "exists and is not a directory",
        ));
    }
    std::fs::create_dir_all(dir)?;
    let probe = temp_path(&dir.join("probe"));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}
