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
pub fn wait_writable(file: &File, millis: i32) {
    let mut ready = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd that lives across the call.
    unsafe { libc::poll(&mut ready, 1, millis) };
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
