//! Atomic output: every file this crate writes goes through here, so an interrupted write never
//! leaves a truncated model, checkpoint or data file in place.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder is written, synced,
/// and renamed over `path`; then the folder is synced so the rename itself survives a crash.
/// Readers see either the old file or the complete new one, never a mixture or a truncation.
/// An existing path that is neither a file nor a folder (a device such as `/dev/null`, a pipe) is
/// written in place instead.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_with(path, |f| f.write_all(bytes))
}

/// Like [`atomic_write`], but lets `fill` stream the content into the temporary file.
pub fn atomic_write_with(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<&mut File>) -> io::Result<()>,
) -> io::Result<()> {
    // A device or pipe (`--out /dev/null`, `--out /dev/stdout`, a FIFO) is written in place:
    // renaming a temporary file over it would replace the device itself with a regular file
    // (as root, /dev/null would become a file that every later reader gets this output from).
    if let Ok(meta) = fs::metadata(path) {
        if !meta.is_file() && !meta.is_dir() {
            let mut f = fs::OpenOptions::new().write(true).open(path)?;
            let mut w = io::BufWriter::new(&mut f);
            fill(&mut w)?;
            return w.flush();
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".plrnn-tmp-")
        .tempfile_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Syncing the folder makes the rename durable; not every platform allows opening a folder.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a whole file, naming the path in the error.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Writes `value` as JSON atomically (round-trip floats: every f64 reads back bit for bit).
/// The error is a one-line reason, for the caller to wrap with the path.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    atomic_write(path, &bytes).map_err(|e| e.to_string())
}

/// Reads JSON written by [`write_json_atomic`]. The error is a one-line reason.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = read_file(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The first of the named fields that differs between two values of one struct, as
/// (name, old value, new value) in `Debug` form; `None` when all agree. Used by the trainers to
/// check a checkpoint against the configuration it is resumed with.
macro_rules! first_difference {
    ($old:expr, $new:expr; $($f:ident),* $(,)?) => {{
        let (old, new) = (&$old, &$new);
        let mut diff: Option<(&'static str, String, String)> = None;
        $(
            if diff.is_none() && old.$f != new.$f {
                diff = Some((stringify!($f), format!("{:?}", old.$f), format!("{:?}", new.$f)));
            }
        )*
        diff
    }};
}
pub(crate) use first_difference;

#[cfg(test)]
mod tests {
    use super::*;

    /// `/dev/null` stays the device: the output goes into it, not over it.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        if !fs::metadata(null).is_ok_and(|m| m.file_type().is_char_device()) {
            return; // nothing to check on a machine without the device
        }
        atomic_write(null, b"discarded").unwrap();
        assert!(fs::metadata(null).unwrap().file_type().is_char_device());
        assert!(fs::read(null).unwrap().is_empty());
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        atomic_write(&p, b"first version, long").unwrap();
        atomic_write(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn failed_fill_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        atomic_write(&p, b"old").unwrap();
        let r = atomic_write_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("interrupted"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_folder_is_an_error() {
        let r = atomic_write(Path::new("/nonexistent-folder/x.bin"), b"x");
        assert!(r.is_err());
    }
}
