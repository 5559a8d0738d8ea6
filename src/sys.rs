//! The operating-system calls the programs make through libc, each wrapped safely: the crate's
//! only `unsafe` besides the calls into libtorch (`nn::autograd`, `nn::graph`), the signal handlers
//! (`signals`) and the run-time load of CUDA support (`device`).
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Clears `O_NONBLOCK` on an open file, so that reads and writes wait as usual.
pub fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller owns, with flags it reported itself.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until `file` can be written, or `millis` have passed, or a signal comes (poll(2)).
pub fn wait_writable(file: &impl AsRawFd, millis: i32) {
    let mut ready = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd that lives across the call.
    unsafe { libc::poll(&mut ready, 1, millis) };
}

/// Reserves `len` bytes of disk for `file` (posix_fallocate(3)); a file system that cannot
/// reserve (EOPNOTSUPP, EINVAL) is no error: the write then finds out.
pub fn reserve(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: posix_fallocate on a descriptor the caller owns; it returns an error number.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match r {
        0 | libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        n => Err(io::Error::from_raw_os_error(n)),
    }
}

/// Points stderr at /dev/null: for an error line that would otherwise be written into an input
/// file that stderr was redirected to.
pub fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2(2) onto descriptor 2 from a descriptor this function owns.
        unsafe { libc::dup2(null.as_raw_fd(), 2) };
    }
}

/// Whether the file at `path` (not followed) has an ACL or `user.` extended attributes, which a
/// new file would not carry over (llistxattr(2); `security.` ones are the system's own).
pub fn has_user_attributes(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: llistxattr(2) writes at most `names.len()` bytes into `names`.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return false;
    }
    names[..n as usize]
        .split(|b| *b == 0)
        .any(|name| name.starts_with(b"user.") || name.starts_with(b"system.posix_acl"))
}

/// The effective user id (geteuid(2)).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this process may write `path` (faccessat(2) with the effective ids, as `>` finds).
pub fn writable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path that lives across the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// Whether descriptor `fd` of this process is open for reading only (false when it is not open).
pub fn read_only_descriptor(fd: i32) -> bool {
    // SAFETY: fcntl(2) F_GETFL only reads the flags of a descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDONLY
}

/// Moves stdout and stderr to the end of their file when that file is the regular file `file`
/// (written in place through another descriptor, `--json /dev/stderr 2>err.txt`): a line printed
/// afterwards (an error) then follows what was written instead of overwriting its start.
pub fn std_streams_past(file: &File) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    for fd in [1, 2] {
        // SAFETY: an all-zero `stat` is valid; fstat(2) fills it for an open descriptor, and
        // lseek(2) on a descriptor of this process only moves its offset.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 && st.st_dev == meta.dev() && st.st_ino == meta.ino() {
                libc::lseek(fd, 0, libc::SEEK_END);
            }
        }
    }
}

/// Whether the working folder has been deleted (getcwd(2) says ENOENT).
pub fn working_folder_deleted() -> bool {
    let mut buf = [0u8; 4096];
    // SAFETY: getcwd(2) writes at most `buf.len()` bytes into `buf`.
    let got = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    got.is_null() && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT)
}

/// The CPU time this process has used so far (`CLOCK_PROCESS_CPUTIME_ID`), in seconds. On a
/// shared machine it excludes the time the process waited for a core.
pub fn cpu_time() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec that clock_gettime fills in.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Writes `line` to stderr and ends the process at once with `code` (`_exit`): no destructor and
/// no `atexit` handler runs, so nothing is torn down under a thread still at work (libtorch's
/// registries). Async-signal-safe: a signal handler may call it.
pub fn exit_now(line: Option<&'static [u8]>, code: i32) -> ! {
    if let Some(line) = line {
        // SAFETY: write(2) of a static buffer to fd 2; its result does not matter here.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: _exit ends the process; it never returns.
    unsafe { libc::_exit(code) }
}

/// Whether the folder `dir` is append-only (`chattr +a`): files can be made in it but none
/// removed or renamed away, so a temp file there would stay. False when it cannot be told.
pub fn append_only_folder(dir: &std::path::Path) -> bool {
    const FS_APPEND_FL: libc::c_long = 0x20;
    use std::os::unix::fs::OpenOptionsExt;
    // O_DIRECTORY: a FIFO where the folder should be fails at once instead of waiting for a writer.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(dir);
    let Ok(folder) = opened else {
        return false;
    };
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes the folder's inode flags (an int) into `flags`, which
    // outlives the call; the descriptor is open for the call.
    let done = unsafe { libc::ioctl(folder.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    done == 0 && flags & FS_APPEND_FL != 0
}
