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
    crate::sys::set_blocking(&file).with_context(|| format!("cannot read {what} {shown}"))?;
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
/// [`write_atomic`] will (random name, `O_EXCL`, never through a symlink), and removed. A
/// destination written in place ([`writes_in_place`]) is opened now and kept open for
/// [`write_atomic`]: closing it would tell a reader waiting on a pipe that the output has ended.
pub fn check_writable(path: &Path) -> Result<()> {
    let shown = path.display();
    if !names_a_file(path) || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if writes_in_place(path) {
        refuse_read_only_descriptor(path)?;
        let file = open_in_place(path).with_context(|| format!("cannot write {shown}"))?;
        held_open().push((path.to_path_buf(), file));
        return Ok(());
    }
    // The probe's name keeps 200 bytes of the name: a longer one than the folder takes would
    // pass it, and fail only at the final rename.
    if path.file_name().is_some_and(|n| n.len() > 255) {
        let too_long = io::Error::from_raw_os_error(libc::ENAMETOOLONG);
        return Err(too_long).with_context(|| format!("cannot write {shown}"));
    }
    // An append-only folder (`chattr +a`) takes new files but lets none be removed or renamed
    // away: the probe, and later the temp file, would stay there.
    if crate::sys::append_only_folder(folder_of(path)) {
        anyhow::bail!("cannot write {shown}: its folder is append-only (chattr +a): a file there cannot be replaced");
    }
    let (probe, sudden_end) =
        temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    drop(probe);
    drop(sudden_end);
    // A file that its owner made read-only is not replaced, as the shell's `>` would not.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) && !crate::sys::writable(path) {
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        return Err(denied).with_context(|| format!("cannot write {shown}"));
    }
    if cannot_be_replaced(path).is_some() {
        // It will be written in place: it must open for writing (not truncated now).
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot write {shown}"))?;
    }
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

/// Whether `path` names one of the process's open files: `/dev/stdout`, `/dev/stderr`,
/// `/dev/fd/N` or `/proc/PID/fd/N`, itself or through symlinks. What it leads to (a terminal, a
/// pipe, or the file that the shell redirected stdout to) is the caller's, to be written
/// through, never replaced: a rename would replace the link (`/dev/stdout` itself, as root).
pub fn names_a_descriptor(path: &Path) -> bool {
    descriptor_named(path).is_some()
}

/// The descriptor that `path` names (see [`names_a_descriptor`]): `Some((None, n))` for this
/// process's own descriptor n (`/dev/stdin` is 0, `/proc/self/fd/7` is 7), `Some((Some(pid),
/// n))` for another process's, `Some((None, -1))` for a name whose number cannot be read.
fn descriptor_named(path: &Path) -> Option<(Option<String>, i32)> {
    let descriptor = |p: &Path| {
        let parts: Vec<&str> = p.iter().map(|c| c.to_str().unwrap_or("")).collect();
        let own = |pid: &str| pid == "self" || pid == std::process::id().to_string();
        let number = |n: &str| n.parse::<i32>().unwrap_or(-1);
        match parts.as_slice() {
            ["/", "dev", "stdin"] => Some((None, 0)),
            ["/", "dev", "stdout"] => Some((None, 1)),
            ["/", "dev", "stderr"] => Some((None, 2)),
            ["/", "dev", "fd", n] => Some((None, number(n))),
            ["/", "proc", pid, "fd", n] if own(pid) => Some((None, number(n))),
            ["/", "proc", pid, "fd", n] => Some((Some(pid.to_string()), number(n))),
            _ => None,
        }
    };
    let mut at = absolute(path)?;
    // A symlink chain, hop by hop (as the kernel follows it, up to its limit of 40).
    for _ in 0..40 {
        if let Some(fd) = descriptor(&at) {
            return Some(fd);
        }
        let target = std::fs::read_link(&at).ok()?;
        let folder = at.parent().unwrap_or(Path::new("/")).to_path_buf();
        at = absolute(&folder.join(target))?;
    }
    None
}

/// Refuses an output that names a descriptor opened for reading only (`--json /dev/stdin <
/// data.csv`, or `/proc/PID/fd/3` of the shell that opened `3<notes.txt`): reopening it for
/// writing would write into a file that was given to be read.
fn refuse_read_only_descriptor(path: &Path) -> Result<()> {
    let read_only = match descriptor_named(path) {
        Some((None, fd)) if fd >= 0 => crate::sys::read_only_descriptor(fd),
        // Another process's descriptor: its flags (octal) in /proc/PID/fdinfo/N.
        Some((Some(pid), fd)) if fd >= 0 => {
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
                .ok()
                .and_then(|info| {
                    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                    i64::from_str_radix(flags.trim(), 8).ok()
                })
                .is_some_and(|flags| {
                    flags & i64::from(libc::O_ACCMODE) == i64::from(libc::O_RDONLY)
                })
        }
        _ => false,
    };
    if read_only {
        let fd = descriptor_named(path).map_or(-1, |(_, fd)| fd);
        anyhow::bail!(
            "cannot write {}: descriptor {fd} is open for reading only",
            path.display()
        );
    }
    Ok(())
}

/// `path` with its folder made absolute and free of symlinks (its last part kept as it is);
/// `None` for a path that names no file (`x/`, `..`).
pub fn absolute(path: &Path) -> Option<std::path::PathBuf> {
    if !names_a_file(path) {
        return None;
    }
    let name = path.file_name()?;
    let dir = folder_of(path);
    Some(std::fs::canonicalize(dir).ok()?.join(name))
}

/// Whether `path` can name a file: its last part, as written, is not empty (`x.json/`), `.` or
/// `..` (`x.json/.` names the folder `x.json`, though [`Path::file_name`] would say `x.json`).
/// The same rule as Python's `basename` in scripts/twin/files.py.
fn names_a_file(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let last = bytes.rsplit(|b| *b == b'/').next().unwrap_or_default();
    !matches!(last, b"" | b"." | b"..")
}

/// Why an existing file at `path` cannot be replaced by a rename, though its folder is
/// writable: it is a mount point (a file bind-mounted into a container: "Device or resource
/// busy"), it belongs to another user in a sticky folder such as /tmp ("Operation not
/// permitted"), or a rename would lose what the shell's `>` keeps (another user's ownership,
/// other hard links, an ACL or extended attributes). Such a file is written in place instead
/// ([`write_atomic`]).
pub fn cannot_be_replaced(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::symlink_metadata(path).ok()?;
    if file.file_type().is_symlink() {
        return None; // the rename replaces the link itself
    }
    let at = absolute(path)?;
    if mount_points().contains(&at) {
        return Some("a mount point");
    }
    let folder = std::fs::metadata(at.parent()?).ok()?;
    let me = crate::sys::effective_uid();
    let sticky = folder.mode() & libc::S_ISVTX != 0;
    if sticky && me != 0 && file.uid() != me && folder.uid() != me {
        return Some("another user's file in a sticky folder");
    }
    // What a rename would lose and the shell's `>` keeps: the owner (a user who is not root
    // cannot give the new file back), the other hard links, an ACL or extended attributes.
    if me != 0 && file.uid() != me {
        return Some("another user's file");
    }
    if file.nlink() > 1 {
        return Some("a file with other hard links");
    }
    crate::sys::has_user_attributes(&at).then_some("a file with an ACL or extended attributes")
}

/// The mount points of this process's mount namespace (`/proc/self/mountinfo`'s fifth field,
/// its `\ooo` escapes undone).
fn mount_points() -> Vec<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let Ok(info) = std::fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let unescape = |field: &[u8]| {
        let mut out = Vec::with_capacity(field.len());
        let mut i = 0;
        while i < field.len() {
            let octal = field
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match (field[i], octal) {
                (b'\\', Some(d)) => {
                    out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                    i += 4;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        std::path::PathBuf::from(std::ffi::OsString::from_vec(out))
    };
    info.split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4).map(unescape))
        .collect()
}

/// Writes the finished temp file `temp` into `path` in place, never through a symlink: for a
/// file that cannot be replaced ([`cannot_be_replaced`]).
///
/// The space is reserved first (`posix_fallocate`), so that a full disk fails before a byte of
/// the old file is overwritten; then the file is written from its start and cut to its new
/// length (scripts/twin/files.py `copy_in_place`, the same).
fn copy_in_place(temp: &Path, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut from = File::open(temp)?;
    let len = from.metadata()?.len();
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    crate::sys::reserve(&to, len)?;
    io::copy(&mut from, &mut to)?;
    to.set_len(len)?;
    to.sync_all()
}

/// A destination that is written in place instead of replaced: a device or a pipe
/// ([`is_special`]), or a name of an open file ([`names_a_descriptor`]).
pub fn writes_in_place(path: &Path) -> bool {
    is_special(path) || names_a_descriptor(path)
}

/// The in-place destinations that [`check_writable`] opened, kept for [`write_atomic`].
fn held_open() -> std::sync::MutexGuard<'static, Vec<(std::path::PathBuf, File)>> {
    static HELD: std::sync::Mutex<Vec<(std::path::PathBuf, File)>> =
        std::sync::Mutex::new(Vec::new());
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens a destination written in place, without blocking: a pipe with no reader is an error
/// ("No such device or address"), not a wait without end. Opened to append: a regular file
/// behind `/dev/stdout` keeps what the program already printed to it. The descriptor stays
/// non-blocking; [`InPlace`] waits for a slow reader itself, and hears a signal while it waits.
fn open_in_place(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// A non-blocking destination written in place: a write that would block waits for the reader
/// in steps of 100 ms, and gives up once a stop signal has come (a slow reader does not make
/// the program deaf to Ctrl-C).
struct InPlace(File);

impl Write for InPlace {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_waiting(&mut self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `out.write(buf)`, waiting while it would block (a non-blocking descriptor whose reader is
/// slow), in steps of 100 ms, until it is written or a stop signal has come.
fn write_waiting<W: Write + std::os::fd::AsRawFd>(out: &mut W, buf: &[u8]) -> io::Result<usize> {
    loop {
        match out.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if crate::signals::stop_signal().is_some() {
                    return Err(io::Error::other("interrupted while the reader waited"));
                }
                crate::sys::wait_writable(out, 100);
            }
            other => return other,
        }
    }
}

/// The program's stdout, locked, waiting where a write would block: a supervisor may hand a
/// program a pipe whose write end is non-blocking (`O_NONBLOCK`), and a report longer than the
/// pipe holds (64 KiB) then meets EAGAIN, which is no reason to fail.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// See [`stdout`].
pub struct Stdout(io::StdoutLock<'static>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A stdout open for reading only (`prog 1<notes.txt`): Rust's standard library would
        // take each failed write (EBADF) for a success and the run's text would vanish with
        // status 0; it is an error, as in Python ("Bad file descriptor", status 1).
        static READ_ONLY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *READ_ONLY.get_or_init(|| crate::sys::read_only_descriptor(1)) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        write_waiting(&mut self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.0.flush() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if crate::signals::stop_signal().is_some() {
                        return Err(io::Error::other("interrupted while the reader waited"));
                    }
                    crate::sys::wait_writable(&self.0, 100);
                }
                other => return other,
            }
        }
    }
}

/// Writes `path` in place, through the handle [`check_writable`] kept, or a new one.
fn write_in_place(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let shown = path.display();
    let held = {
        let mut held = held_open();
        let at = held.iter().position(|(p, _)| p == path);
        at.map(|i| held.remove(i).1)
    };
    let file = match held {
        Some(file) => file,
        None => open_in_place(path).with_context(|| format!("cannot write {shown}"))?,
    };
    let mut w = BufWriter::new(InPlace(file));
    let written = write(&mut w).and_then(|()| Ok(w.flush()?));
    crate::sys::std_streams_past(&w.get_ref().0);
    if let (Err(_), Some(stop)) = (&written, crate::signals::stop_signal()) {
        let name = stop.name();
        return Err(anyhow::Error::new(stop).context(format!(
            "interrupted by {name}, while writing {shown}: what it holds is incomplete"
        )));
    }
    // Flattened to its words: a broken pipe here is a named output that lost its reader, an
    // error, not the quiet end that `cli::run` gives to stdout piped into `head`.
    written.map_err(|e| {
        let e = e.context(format!("cannot write {shown}"));
        anyhow::anyhow!("{}", crate::error::one_line(&e))
    })
}

/// The folder that `path` names a file in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A new temp file in `path`'s folder, with a random name, created with `O_EXCL` (a planted
/// file or symlink of that name makes it pick another, never follow it), removed when dropped;
/// and its registration with [`crate::signals::remove_on_sudden_end`], made before the file
/// exists, so that a signal that ends the process at once at any moment leaves no temp file.
fn temp_file_beside(
    path: &Path,
) -> io::Result<(tempfile::NamedTempFile, crate::signals::RemoveOnSuddenEnd)> {
    let dir = folder_of(path);
    // Absolute, as tempfile's own `tempfile_in` makes it: the path stays valid for the handler.
    let dir = std::path::absolute(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of up to 255 bytes must stay writable: the temp name keeps at most 200 of them.
    let mut keep = name.len().min(200);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut sudden_end = None;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", &name[..keep]))
        .suffix(".tmp")
        .make_in(&dir, |candidate| {
            // The registration is one at a time: a name that was taken gives its slot back.
            sudden_end = None;
            sudden_end = Some(crate::signals::remove_on_sudden_end(candidate));
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                // Created as any new file is (0666 less the umask), not tempfile's private 0600.
                .mode(0o666)
                .open(candidate)
        })?;
    let sudden_end = sudden_end.expect("make_in called the closure");
    Ok((temp, sudden_end))
}

/// Writes a file through a temp file in the same folder, flushed to disk and then renamed over
/// `path`: a reader sees the old file or the new one, never half of one, and a failure leaves
/// the old file as it was and no temp file behind. The temp file has a random name and is
/// created exclusively, so nothing planted in the folder is followed or overwritten; a symlink
/// at `path` itself is replaced, never written through. A device, a pipe or a name of an open
/// file (`/dev/stdout`) at `path` is written in place ([`writes_in_place`]).
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let shown = path.display();
    if !names_a_file(path) || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if writes_in_place(path) {
        refuse_read_only_descriptor(path)?;
        return write_in_place(path, write);
    }
    // `_sudden_end` lives to the end, after the rename: a signal that ends the process at once
    // removes the temp file (or, renamed, finds nothing to remove).
    let (temp, _sudden_end) =
        temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    // A file that is replaced keeps its permission bits (0o777 only: the new file belongs to
    // whoever runs the program, so a setuid, setgid or sticky bit is never carried over).
    if let Ok(old) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = old.permissions().mode() & 0o777;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot write {shown}"))?;
        // Root replacing another user's file gives it back to its owner and group (`sudo
        // classify --json ~/out.json` must not take the user's file away). Best effort: where
        // the change is not allowed, the file is ours, as any new file.
        use std::os::unix::fs::MetadataExt;
        if crate::sys::effective_uid() == 0 && (old.uid(), old.gid()) != (0, 0) {
            let _ = std::os::unix::fs::fchown(temp.as_file(), Some(old.uid()), Some(old.gid()));
        }
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
    // A stop signal that came while the output was written: nothing is replaced (the temp
    // file goes with `temp_path`), and the run ends with the signal's line.
    if let Some(stop) = crate::signals::stop_signal() {
        return Err(stop.into());
    }
    // A file that a rename cannot replace is written in place, from the finished temp file
    // (a run is not thrown away at its end); the same when the rename fails in a way the
    // check could not foresee (EBUSY, EPERM, EACCES, EXDEV). Said on stderr.
    let reason = match cannot_be_replaced(path) {
        Some(reason) => reason.to_string(),
        None => match temp_path.persist(path) {
            Ok(_) => return Ok(()),
            Err(e) => {
                let errno = e.error.raw_os_error();
                let unforeseen = [libc::EBUSY, libc::EPERM, libc::EACCES, libc::EXDEV];
                if !errno.is_some_and(|n| unforeseen.contains(&n)) || !path.is_file() {
                    return Err(e.error).with_context(|| format!("cannot write {shown}"));
                }
                let temp_path = e.path;
                let reason = format!("a file a rename cannot replace ({})", e.error);
                copy_in_place(&temp_path, path).with_context(|| format!("cannot write {shown}"))?;
                let note = format!("note: {shown} is {reason}: written in place");
                eprintln!("{}", crate::error::escape_controls(&note));
                return Ok(());
            }
        },
    };
    copy_in_place(&temp_path, path).with_context(|| format!("cannot write {shown}"))?;
    let note = format!("note: {shown} is {reason}: written in place");
    eprintln!("{}", crate::error::escape_controls(&note));
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
