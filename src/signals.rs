//! The signals that ask a program to stop, and how it stops: the crate's one signal handler.
//!
//! Every catchable signal whose default action ends the process (the list is [`STOP_SIGNALS`])
//! stops a run the same way: the loops see [`stop_signal`] between two steps, the program prints
//! one line, `error: interrupted by SIGxxx: stopped before writing any output`, and exits with
//! status 128 + the signal's number; no output file is written or touched. A second signal, or
//! [`GRACE`] after the first in a program stuck where no loop checks, ends the process at once
//! with the first signal's line and status. `scripts/twin/signals.py` follows the same rules.
//!
//! Rules for what the program inherits:
//! - SIGHUP, SIGINT and SIGQUIT that were ignored when the program started stay ignored: a shell
//!   starts a background job (`cmd &`) with SIGINT and SIGQUIT ignored, and `nohup` ignores
//!   SIGHUP, so that a Ctrl-C or a closed terminal does not reach the job. The other signals are
//!   always caught.
//! - A stop signal blocked when the program started is unblocked (else it would stay pending
//!   and the run could not be stopped).
//! - SIGXFSZ is ignored, as Python ignores it: a write past a file-size limit (`ulimit -f`) then
//!   fails with "File too large", which the program reports as any failed write (one line,
//!   status 1, the old file kept), instead of dying with a core dump.
//!
//! The handlers are plain `sigaction`s: installing them needs no file descriptor (a program
//! started with `ulimit -n 4` is stopped like any other) and no thread; the grace period is an
//! `alarm(2)` armed by the first signal, whose SIGALRM counts as the second. A program installs
//! them before libtorch's start-up, with [`crate::stop_signals_before_main!`].
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

/// The signals that stop a run, with their names: every catchable signal whose default action
/// ends the process, except SIGPIPE (a closed pipe is a quiet end, see `cli`) and SIGXFSZ
/// (ignored, see the module's doc); the real-time signals are named as `kill -l` names them
/// (glibc's SIGRTMIN is 34). SIGABRT, SIGSYS and SIGTRAP keep their default action: they come
/// from `abort()`, a refused system call and a debugger, not from someone asking a run to stop.
pub const STOP_SIGNALS: [(i32, &str); 44] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGSTKFLT, "SIGSTKFLT"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
    (34, "SIGRTMIN"),
    (35, "SIGRTMIN+1"),
    (36, "SIGRTMIN+2"),
    (37, "SIGRTMIN+3"),
    (38, "SIGRTMIN+4"),
    (39, "SIGRTMIN+5"),
    (40, "SIGRTMIN+6"),
    (41, "SIGRTMIN+7"),
    (42, "SIGRTMIN+8"),
    (43, "SIGRTMIN+9"),
    (44, "SIGRTMIN+10"),
    (45, "SIGRTMIN+11"),
    (46, "SIGRTMIN+12"),
    (47, "SIGRTMIN+13"),
    (48, "SIGRTMIN+14"),
    (49, "SIGRTMIN+15"),
    (50, "SIGRTMAX-14"),
    (51, "SIGRTMAX-13"),
    (52, "SIGRTMAX-12"),
    (53, "SIGRTMAX-11"),
    (54, "SIGRTMAX-10"),
    (55, "SIGRTMAX-9"),
    (56, "SIGRTMAX-8"),
    (57, "SIGRTMAX-7"),
    (58, "SIGRTMAX-6"),
    (59, "SIGRTMAX-5"),
    (60, "SIGRTMAX-4"),
    (61, "SIGRTMAX-3"),
    (62, "SIGRTMAX-2"),
    (63, "SIGRTMAX-1"),
    (64, "SIGRTMAX"),
];

/// The signals whose inherited "ignore" the program keeps (see the module's doc).
pub const KEPT_IGNORED: [i32; 3] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

/// How long a program may take to stop after the first signal before it is ended.
pub const GRACE_SECONDS: u32 = 3;
/// [`GRACE_SECONDS`] as a duration.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(GRACE_SECONDS as u64);

/// The signal that first asked the program to stop, 0 while none has.
static STOP: AtomicI32 = AtomicI32::new(0);
/// Whether the program's one error line has been printed: never two.
static LINE_PRINTED: AtomicBool = AtomicBool::new(false);

/// The temp file an output is being written to ([`remove_on_sudden_end`]), which a signal that
/// ends the process at once removes: its path, NUL-terminated, in a static buffer that the
/// handler may read. [`TEMP_STATE`] says who owns the buffer.
struct TempPath(std::cell::UnsafeCell<[u8; TEMP_PATH_MAX]>);
const TEMP_PATH_MAX: usize = 4096;
// SAFETY: the buffer is written only by the thread that moved TEMP_STATE from FREE to WRITING,
// and read only by a handler that moved it from SET to CLAIMED; no two ever hold it at once.
unsafe impl Sync for TempPath {}
static TEMP_PATH: TempPath = TempPath(std::cell::UnsafeCell::new([0; TEMP_PATH_MAX]));
static TEMP_STATE: AtomicU8 = AtomicU8::new(TEMP_FREE);
const TEMP_FREE: u8 = 0;
const TEMP_WRITING: u8 = 1;
const TEMP_SET: u8 = 2;
const TEMP_CLAIMED: u8 = 3;

/// While this lives, a signal that ends the process at once (a second stop signal, or the
/// grace alarm) removes the temp file it names before the process exits: an output's temp file
/// never stays behind, even when the run is cut short during its final write.
pub struct RemoveOnSuddenEnd(bool);

/// Registers `path` (a temp file beside an output) for [`RemoveOnSuddenEnd`]. One at a time: a
/// second registration while one lives, or a path too long for the buffer, registers nothing.
pub fn remove_on_sudden_end(path: &std::path::Path) -> RemoveOnSuddenEnd {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= TEMP_PATH_MAX || bytes.contains(&0) {
        return RemoveOnSuddenEnd(false);
    }
    if TEMP_STATE
        .compare_exchange(TEMP_FREE, TEMP_WRITING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return RemoveOnSuddenEnd(false);
    }
    // SAFETY: WRITING gives this thread the buffer alone (see `TempPath`).
    unsafe {
        let buffer = &mut *TEMP_PATH.0.get();
        buffer[..bytes.len()].copy_from_slice(bytes);
        buffer[bytes.len()] = 0;
    }
    TEMP_STATE.store(TEMP_SET, Ordering::SeqCst);
    RemoveOnSuddenEnd(true)
}

impl Drop for RemoveOnSuddenEnd {
    fn drop(&mut self) {
        if self.0 {
            // Left CLAIMED if a handler took it: the process is ending then.
            let _ = TEMP_STATE.compare_exchange(
                TEMP_SET,
                TEMP_FREE,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }
}

/// In a handler: removes the registered temp file, if there is one. Async-signal-safe:
/// atomics and unlink(2).
fn remove_temp_file() {
    if TEMP_STATE
        .compare_exchange(TEMP_SET, TEMP_CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        // SAFETY: CLAIMED gives the handler the buffer, a NUL-terminated path (see `TempPath`).
        unsafe { libc::unlink(TEMP_PATH.0.get() as *const libc::c_char) };
    }
}

/// The name of a stop signal (`SIGTERM`), `a signal` for any other number.
pub fn name(signal: i32) -> &'static str {
    STOP_SIGNALS
        .iter()
        .find(|(n, _)| *n == signal)
        .map_or("a signal", |(_, name)| name)
}

/// A run stopped by a signal (its number).
#[derive(Debug, Clone, Copy)]
pub struct Interrupted(pub i32);

impl Interrupted {
    /// The signal's name: `SIGINT`, `SIGTERM`, `SIGHUP`, ...
    pub fn name(self) -> &'static str {
        name(self.0)
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let name = self.name();
        write!(
            f,
            "interrupted by {name}: stopped before writing any output"
        )
    }
}

impl std::error::Error for Interrupted {}

/// The signal that asked the program to stop, once one has arrived.
pub fn stop_signal() -> Option<Interrupted> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(Interrupted(signal)),
    }
}

/// Claims the program's one error line: true for the first caller only.
pub fn claim_line() -> bool {
    !LINE_PRINTED.swap(true, Ordering::SeqCst)
}

/// The line a stop by `signal` prints, in three static parts that a signal handler may write
/// (the same text as `cli::Interrupted`'s).
pub fn line_parts(signal: i32) -> [&'static [u8]; 3] {
    [
        b"error: interrupted by ",
        name(signal).as_bytes(),
        b": stopped before writing any output\n",
    ]
}

/// Ends the process at once with the first signal's line (unless a line was printed already)
/// and status 128 + that signal, removing the temp file of an output being written.
/// Async-signal-safe: atomics, unlink(2), write(2) and _exit(2) only.
fn end_now() -> ! {
    remove_temp_file();
    let first = STOP.load(Ordering::SeqCst);
    if claim_line() {
        let iov = line_parts(first).map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        });
        // SAFETY: writev(2) of three static buffers to fd 2; its result does not matter here.
        unsafe { libc::writev(2, iov.as_ptr(), 3) };
    }
    // SAFETY: _exit ends the process; it never returns.
    unsafe { libc::_exit(128 + first) }
}

/// The handler of every stop signal: the first one is recorded and arms the grace alarm, the
/// next one ends the process. Async-signal-safe: atomics, alarm(2), write(2), _exit(2).
extern "C" fn on_stop(signal: libc::c_int) {
    if STOP
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        // SAFETY: alarm(2) only arms a timer; SIGALRM then counts as the second signal.
        unsafe { libc::alarm(GRACE_SECONDS) };
    } else {
        end_now();
    }
}

/// Installs the handlers (see the module's doc). Idempotent. Safe to call before `main`:
/// sigaction(2) only, no allocation. Returns the first signal that could not be handled.
pub fn install() -> Result<(), i32> {
    let handler = on_stop as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    // SAFETY: sigaction(2) with zeroed, then filled, structs that live across the calls;
    // `on_stop` is async-signal-safe.
    unsafe {
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        libc::sigaction(libc::SIGXFSZ, &ignore, std::ptr::null_mut());
        // A stop signal blocked by whoever started the program is unblocked: blocked, it would
        // stay pending for ever and the run could not be stopped.
        let mut stops: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut stops);
        for (signal, _) in STOP_SIGNALS {
            libc::sigaddset(&mut stops, signal);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &stops, std::ptr::null_mut());
        for (signal, _) in STOP_SIGNALS {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                return Err(signal);
            }
            if old.sa_sigaction == handler
                || (old.sa_sigaction == libc::SIG_IGN && KEPT_IGNORED.contains(&signal))
            {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(signal);
            }
        }
    }
    Ok(())
}

/// The function a program's `.preinit_array` runs: [`install`], before any shared library is
/// initialised (libtorch's initialisers take a few hundred milliseconds), though after the
/// dynamic loader has mapped them (a few milliseconds after exec, when a signal still has its
/// default action).
/// It also ends a program started from a deleted working folder, with one line: libtorch's
/// start-up (Intel oneMKL's) dies there with "FATAL ERROR: Cannot load libtorch_cpu.so".
pub extern "C" fn install_before_main() {
    let _ = install();
    if crate::sys::working_folder_deleted() {
        crate::sys::exit_now(Some(WORKING_FOLDER_DELETED), 1);
    }
}

/// The line of a program started from a deleted working folder (the same in reference.py).
pub const WORKING_FOLDER_DELETED: &[u8] =
    b"error: the working folder was deleted: change to an existing folder (libtorch cannot start in a deleted one)\n";

/// Installs the stop handlers before `main` and before libtorch's start-up, so that a signal
/// that comes at once still ends the program with its one line. Each program (binary) says it
/// once at the top level; a library that depends on this crate never gets the handlers.
#[macro_export]
macro_rules! stop_signals_before_main {
    () => {
        #[used]
        #[link_section = ".preinit_array"]
        static STOP_SIGNALS_BEFORE_MAIN: extern "C" fn() = $crate::signals::install_before_main;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_signal_has_its_libc_name_and_number() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGHUP), "SIGHUP");
        assert_eq!(name(libc::SIGPIPE), "a signal");
        let mut numbers: Vec<i32> = STOP_SIGNALS.iter().map(|(n, _)| *n).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), STOP_SIGNALS.len(), "no signal twice");
        assert!(!numbers.contains(&libc::SIGPIPE) && !numbers.contains(&libc::SIGXFSZ));
        // Linux x86-64's numbers, which the exit statuses (128 + n) and the Python twin use.
        let mut expected = vec![1, 2, 3, 10, 12, 14, 15, 16, 24, 26, 27, 29, 30];
        expected.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
        assert_eq!(numbers, expected, "the signal numbers");
        // The real-time signals as `kill -l` names them, from glibc's SIGRTMIN (34) to SIGRTMAX.
        assert_eq!(libc::SIGRTMIN(), 34);
        assert_eq!(name(libc::SIGRTMIN()), "SIGRTMIN");
        assert_eq!(name(libc::SIGRTMIN() + 15), "SIGRTMIN+15");
        assert_eq!(name(libc::SIGRTMAX() - 14), "SIGRTMAX-14");
        assert_eq!(name(libc::SIGRTMAX()), "SIGRTMAX");
    }
}
