//! Files in and out, the same way for every program: atomic writes through a temp file beside
//! the destination, devices and pipes written in place, inputs read whole as bounded regular
//! files (`scripts/reference.py`'s `write_atomic` and `read_regular`).
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Reads a whole input file that must be a regular file of at most `max_bytes`: a FIFO, a
/// device such as /dev/zero, a folder or a larger file is refused by name before anything is
/// read (opened without blocking, so a FIFO with no writer does not hang). `what` names the file
/// in errors ("checkpoint", "data file").
pub fn read_regular(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a device, a pipe or a socket)"
        };
        anyhow::bail!("cannot read {what} {shown}: it is {kind}");
    }
    if meta.len() > max_bytes {
        anyhow::bail!(
            "cannot read {what} {shown}: {} bytes, more than the {max_bytes} bytes accepted",
            meta.len()
        );
    }
    set_blocking(&file).with_context(|| format!("cannot read {what} {shown}"))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that grew since it was measured.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > max_bytes {
        anyhow::bail!("cannot read {what} {shown}: more than the {max_bytes} bytes accepted");
    }
    Ok(bytes)
}

/// Fails early, before any work is done, when `path` cannot be written (a missing or read-only
/// folder, a folder in the way): a probe temp file is created beside it, exactly as
/// [`write_atomic`] will (random name, `O_EXCL`, never through a symlink), and removed.
pub fn check_writable(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.file_name().is_none() || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if is_special(path) {
        // /dev/null, /dev/full, a pipe: written straight through, never replaced.
        open_special(path).with_context(|| format!("cannot write {shown}"))?;
        return Ok(());
    }
    temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    Ok(())
}

/// [`check_writable`] for a `--json` destination (`-`, stdout, needs no check).
pub fn check_json_destination(json: Option<&str>) -> Result<()> {
    match json {
        Some(path) if path != "-" => check_writable(Path::new(path)),
        _ => Ok(()),
    }
}

/// An existing path that is not a regular file (a device such as /dev/null or /dev/full, a
/// pipe): it must be written in place. Renaming a temp file over it would replace a device
/// node, and as root that would succeed.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens a device or a pipe for writing without blocking: a pipe with no reader is an error
/// ("No such device or address"), not a wait without end.
fn open_special(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    set_blocking(&file)?;
    Ok(file)
}

/// Clears `O_NONBLOCK` on an open file, so that writes wait for a slow reader as usual.
fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with flags it reported itself.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new temp file in `path`'s folder, with a random name, created with `O_EXCL` (a planted
/// file or symlink of that name makes it pick another, never follow it), removed when dropped.
fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of up to 255 bytes must stay writable: the temp name keeps at most 200 of them.
    let mut keep = name.len().min(200);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    tempfile::Builder::new()
        .prefix(&format!(".{}.", &name[..keep]))
        .suffix(".tmp")
        // Created as any new file is (0666 less the umask), not tempfile's private 0600.
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
}

/// Writes a file through a temp file in the same folder, flushed to disk and then renamed over
/// `path`: a reader sees the old file or the new one, never half of one, and a failure leaves
/// the old file as it was and no temp file behind. The temp file has a random name and is
/// created exclusively, so nothing planted in the folder is followed or overwritten; a symlink
/// at `path` itself is replaced, never written through. A device or a pipe at `path` is
/// written in place.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let shown = path.display();
    if path.file_name().is_none() || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if is_special(path) {
        let file = open_special(path).with_context(|| format!("cannot write {shown}"))?;
        let mut w = BufWriter::new(file);
        write(&mut w).with_context(|| format!("cannot write {shown}"))?;
        w.flush().with_context(|| format!("cannot write {shown}"))?;
        return Ok(());
    }
    let temp = temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    // A file that is replaced keeps its permissions.
    if let Ok(old) = std::fs::metadata(path) {
        temp.as_file()
            .set_permissions(old.permissions())
            .with_context(|| format!("cannot write {shown}"))?;
    }
    let (file, temp_path) = temp.into_parts();
    // `temp_path` removes the file when dropped: on every error below, nothing stays behind.
    let mut w = BufWriter::new(file);
    write(&mut w).with_context(|| format!("cannot write {shown}"))?;
    let file = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {shown}"))?;
    file.sync_all()
        .with_context(|| format!("cannot write {shown}"))?;
    drop(file);
    temp_path
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {shown}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::trace::write_json;
    use serde_json::json;

    #[test]
    fn atomic_write_replaces_or_keeps() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().to_path_buf();
        let path = dir.join("out.json");
        std::fs::write(&path, "old").unwrap();
        let failed = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        write_json(path.to_str().unwrap(), &json!({"a": 1})).unwrap();
        // A device is written in place, never replaced: /dev/null swallows, /dev/full fails.
        write_json("/dev/null", &json!({"a": 1})).unwrap();
        let err = format!(
            "{:#}",
            write_json("/dev/full", &json!({"a": 1})).unwrap_err()
        );
        assert!(err.contains("No space left"), "{err}");
        assert!(is_special(Path::new("/dev/full")));
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"a\": 1"));
    }
}
