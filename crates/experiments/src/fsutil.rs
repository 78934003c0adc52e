//! File writing that never leaves a half-written result and cannot be redirected: each file is
//! written inside a fresh private directory (`tempfile::Builder::tempdir_in`: created exclusively,
//! mode 0700, an unpredictable name `.tmp-<pid>-<random>`) next to its target, flushed to disk,
//! then renamed over the target (rename is atomic on POSIX and replaces a name, never writes
//! through it). Nobody else can create or replace a file inside that directory, so a symbolic link
//! planted by another user cannot make a run write elsewhere; an output path that is itself a
//! symbolic link is refused.
//!
//! The `tempfile` crate provides the exclusive, unpredictable creation (a hand-written
//! `.tmp-<pid>-<name>` was predictable and followed links).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Refuses an output path that is a symbolic link (writing would replace the link, and a reader
/// following it would see the old target).
pub fn refuse_symlink(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; outputs are never written through links (remove it, or \
                 choose another results or figures directory)",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Longest file name (bytes) on the file systems this runs on (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Longest path (bytes) passed to the system (Linux's PATH_MAX, 4096 with the terminating NUL).
pub const PATH_MAX: usize = 4095;

/// Bytes a private temporary directory and the index prefix add to a path (`/.tmp-<pid>-<6
/// random>/<k>/`, with pids below 2^22 and k below 100).
const TEMP_OVERHEAD: usize = 32;

/// Refuses, before any work, an output file path that could not be written: too long
/// ([`check_path_length`]), a symbolic link ([`refuse_symlink`]) or an existing directory.
pub fn check_output_file(path: &Path) -> std::io::Result<()> {
    check_path_length(path)?;
    refuse_symlink(path)?;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            format!(
                "{} exists and is a directory; an output file goes there (remove or rename it)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses a path the file system would refuse when it is written (a component longer than
/// [`NAME_MAX`] bytes, or the path with its temporary directory longer than [`PATH_MAX`]), so that
/// the refusal comes before the work.
pub fn check_path_length(path: &Path) -> std::io::Result<()> {
    let too_long = |what: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what}; shorten the spec's file name or the results/figures directory"),
        ))
    };
    if let Some(c) = path
        .components()
        .map(|c| c.as_os_str().len())
        .find(|&len| len + 2 > NAME_MAX)
    {
        return too_long(format!(
            "a file name of {c} bytes is too long (at most {} here: the system allows {NAME_MAX})",
            NAME_MAX - 2
        ));
    }
    let len = path.as_os_str().len();
    if len + TEMP_OVERHEAD > PATH_MAX {
        return too_long(format!(
            "the path is {len} bytes long; at most {} are allowed (the system allows {PATH_MAX}, \
             and the temporary directory needs {TEMP_OVERHEAD})",
            PATH_MAX - TEMP_OVERHEAD
        ));
    }
    Ok(())
}

/// The directory a file at `path` goes in ("." for a bare file name), created if needed.
fn parent_dir(path: &Path) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A fresh private directory (mode 0700, name `.tmp-<pid>-<random>`) in `dir`, removed on drop.
/// If `dir` went away since it was created (another process's [`check_writable_dir`] removes the
/// one it created, when empty), it is created again and the directory made once more.
fn private_dir(dir: &Path) -> std::io::Result<tempfile::TempDir> {
    let make = || {
        tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", std::process::id()))
            .tempdir_in(dir)
    };
    make().or_else(|e| {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e);
        }
        std::fs::create_dir_all(dir)?;
        make()
    })
}

/// Writes `bytes` to `path` atomically (a set of one, see [`write_set_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_set_atomic(&[(path, bytes)])
}

/// Private temporary directories next to the targets of one set of files (one per parent
/// directory, see [`private_dir`]), removed with everything left in them on drop.
struct TempSet {
    privates: Vec<(PathBuf, tempfile::TempDir)>,
}

impl TempSet {
    fn new() -> Self {
        Self {
            privates: Vec::new(),
        }
    }

    /// The temporary path of the set's k-th file, whose target is `path`: `<private>/<k>/<name>`
    /// in the private directory of `path`'s parent (the name, so the extension, is `path`'s).
    fn temp_for(&mut self, k: usize, path: &Path) -> std::io::Result<PathBuf> {
        let dir = parent_dir(path)?;
        let i = match self.privates.iter().position(|(d, _)| *d == dir) {
            Some(i) => i,
            None => {
                let private = private_dir(&dir)?;
                self.privates.push((dir, private));
                self.privates.len() - 1
            }
        };
        let sub = self.privates[i].1.path().join(k.to_string());
        std::fs::create_dir(&sub)?;
        Ok(sub.join(path.file_name().unwrap_or_else(|| "out".as_ref())))
    }

    /// Renames the temporaries to their targets in order, then flushes the directories' entries
    /// to disk where the system allows it.
    fn rename_all(&self, temps: &[PathBuf], paths: &[&Path]) -> std::io::Result<()> {
        for (tmp, path) in temps.iter().zip(paths) {
            std::fs::rename(tmp, path)?;
        }
        for (dir, _) in &self.privates {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// Calls `write(tmps)` to produce the files at `paths` under temporary paths (a private `TempSet`; each
/// file name is its path's, so its extension is kept: plotters picks the image format from it),
/// flushes them, then renames them to `paths` in order; on error the temporary directories are
/// removed and no path is touched, so a set (a figure's PNG and SVG) never mixes an old file with
/// a new one.
pub fn with_atomic_paths<E: From<std::io::Error>, const N: usize>(
    paths: [&Path; N],
    write: impl FnOnce(&[PathBuf; N]) -> Result<(), E>,
) -> Result<(), E> {
    for path in paths {
        refuse_symlink(path)?;
    }
    let mut set = TempSet::new();
    let mut tmps: Vec<PathBuf> = Vec::with_capacity(N);
    for (k, path) in paths.iter().enumerate() {
        tmps.push(set.temp_for(k, path)?);
    }
    let tmps: [PathBuf; N] = tmps.try_into().expect("one temporary path per path");
    write(&tmps)?;
    for tmp in &tmps {
        std::fs::File::open(tmp)?.sync_all()?;
    }
    set.rename_all(&tmps, &paths)?;
    Ok(())
}

/// Writes several files so that they change together as far as the file system allows: every
/// file is written and flushed in a private temporary directory next to its target first, then
/// all are renamed in order (microseconds apart). On error nothing is renamed and the temporary
/// directories are removed. Readers that must not mix old and new files check a stamp written
/// last (see `manifest::Stamp`).
pub fn write_set_atomic(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut writers: Vec<FileWriter<'_>> = files
        .iter()
        .map(|&(path, bytes)| -> FileWriter<'_> {
            (
                path,
                Box::new(move |f: &mut std::fs::File| f.write_all(bytes)),
            )
        })
        .collect();
    write_set_atomic_with(&mut writers)
}

/// What writes a file's content into a fresh file.
pub type WriteContent<'a> = Box<dyn FnMut(&mut std::fs::File) -> std::io::Result<()> + 'a>;

/// A target path and what writes its content.
pub type FileWriter<'a> = (&'a Path, WriteContent<'a>);

/// [`write_set_atomic`] with each file's content written by its writer (so large contents need
/// not be in memory at once).
pub fn write_set_atomic_with(files: &mut [FileWriter<'_>]) -> std::io::Result<()> {
    for (path, _) in files.iter() {
        refuse_symlink(path)?;
    }
    let mut set = TempSet::new();
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    for (k, (path, write)) in files.iter_mut().enumerate() {
        let tmp = set.temp_for(k, path)?;
        let mut f = std::fs::File::create_new(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        temps.push(tmp);
    }
    let paths: Vec<&Path> = files.iter().map(|(p, _)| *p).collect();
    set.rename_all(&temps, &paths)
}

/// Removes the temporary directories and files (`.tmp-<pid>-…`) that a killed process left in
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
            // Never follow a link: a link is removed as a name, a real directory with its content.
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// [`ensure_writable_dir`], then removes `dir` again if it did not exist and is still empty (its
/// parents stay): a spec's own output directory is checked before any work but appears only once
/// something is written in it (the writers create their directories), so a run that is
/// interrupted or refused later leaves no empty directory of its own behind.
pub fn check_writable_dir(dir: &Path) -> std::io::Result<()> {
    let existed = dir.exists();
    ensure_writable_dir(dir)?;
    if !existed {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
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
    std::fs::create_dir_all(dir).map_err(|e| {
        // Name the part of the path that stops it, if one is a file.
        match dir.ancestors().skip(1).find(|a| a.exists() && !a.is_dir()) {
            Some(file) => std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create this directory: {} is not a directory",
                    file.display()
                ),
            ),
            None => std::io::Error::new(e.kind(), format!("cannot create this directory: {e}")),
        }
    })?;
    // A private directory and a file in it, both removed again.
    let cannot_write =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot write in it: {e}"));
    let private = private_dir(dir).map_err(cannot_write)?;
    std::fs::File::create_new(private.path().join("probe")).map_err(cannot_write)?;
    private.close()
}
