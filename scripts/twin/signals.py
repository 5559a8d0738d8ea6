"""The signals that ask a program to stop, and how it stops (as src/signals.rs).

Every catchable signal whose default action ends the process (STOP_SIGNALS) stops a run the same
way: the program prints one line, `error: interrupted by SIGxxx: stopped before writing any
output`, and exits with status 128 + the signal's number; no output file is written or touched.
A second signal, or GRACE seconds after the first (an alarm, whose SIGALRM counts as the second),
ends the process at once with the first signal's line and status.

Rules for what the program inherits, as on the Rust side:
- SIGHUP, SIGINT and SIGQUIT that were ignored when the program started stay ignored (a shell's
  background job, `nohup`); the other signals are always caught.
- SIGXFSZ stays ignored (Python ignores it at start): a write past `ulimit -f` fails with
  "File too large", reported as any failed write.

`install()` runs before `import torch` (seconds), so that a signal during start-up still ends
the program with its line.
"""
import os
import signal
import sys

STOP_SIGNALS = [(1, "SIGHUP"), (2, "SIGINT"), (3, "SIGQUIT"), (10, "SIGUSR1"), (12, "SIGUSR2"),
                (14, "SIGALRM"), (15, "SIGTERM"), (16, "SIGSTKFLT"), (24, "SIGXCPU"), (26, "SIGVTALRM"),
                (27, "SIGPROF"), (29, "SIGIO"), (30, "SIGPWR")] + [
    # the real-time signals, named as `kill -l` names them (glibc's SIGRTMIN is 34)
    (34, "SIGRTMIN")] + [(34 + i, f"SIGRTMIN+{i}") for i in range(1, 16)] + [
    (64 - i, f"SIGRTMAX-{i}") for i in range(14, 0, -1)] + [(64, "SIGRTMAX")]
KEPT_IGNORED = (1, 2, 3)
GRACE = 3
NAMES = dict(STOP_SIGNALS)

_first = 0  # the signal that first asked the program to stop, 0 while none has
_running = False  # whether the program's body runs (a stop raises Stopped there)


class Stopped(BaseException):
    """A stop signal, raised wherever the program is (as Python raises KeyboardInterrupt for
    SIGINT): temp files are removed on the way out, then run_until_stopped prints the line."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def line(signum):
    return f"error: interrupted by {NAMES[signum]}: stopped before writing any output"


def _end_now():
    os.write(2, (line(_first) + "\n").encode())
    os._exit(128 + _first)


def _on_stop(signum, frame):
    global _first
    if _first:
        _end_now()
    _first = signum
    signal.alarm(GRACE)
    if _running:
        raise Stopped(signum)


def install():
    """The handlers of every stop signal (see the module's doc); a stop signal blocked by whoever
    started the program is unblocked (blocked, it would stay pending and never stop the run)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum for signum, _ in STOP_SIGNALS])
    for signum, _ in STOP_SIGNALS:
        if signum in KEPT_IGNORED and signal.getsignal(signum) == signal.SIG_IGN:
            continue
        signal.signal(signum, _on_stop)


def _stop_now(signum):
    """The stop's one line and status 128 + signum, at once: the temp files are gone already (the
    exception went through their cleanup), and the interpreter's own shutdown (seconds with torch
    loaded, after which the grace alarm would kill it) is skipped, as the Rust side exits."""
    global _running
    _running = False
    signal.alarm(0)
    try:
        sys.stdout.flush()
    except (OSError, ValueError, Stopped):
        pass
    os.write(2, (line(signum) + "\n").encode())
    os._exit(128 + signum)


def _quiet_stdout():
    """Points stdout at /dev/null, so that the interpreter's last flush has nowhere to fail."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_until_stopped(program):
    """Runs `program()`. A stop signal ends the run with one line and 128 + its number; a closed
    stdout (`reference.py ... | head`) ends it quietly, as the Rust programs do; any other failed
    write to stdout (a full disk, `ulimit -f`) is one line, status 1."""
    global _running
    _running = True
    try:
        if _first:  # a signal that came during start-up
            raise Stopped(_first)
        program()
        if sys.stdout is not None:  # closed at start (`>&-`): print wrote nothing, as Rust
            sys.stdout.flush()
    except KeyboardInterrupt:  # SIGINT before install() took it over
        _stop_now(2)
    except Stopped as e:
        _stop_now(e.signum)
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        _quiet_stdout()
        sys.exit(f"error: {e.strerror}")


def refuse_deleted_working_folder():
    """One line and status 1 when the working folder was deleted: `import torch` dies there
    ("Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so"). As src/signals.rs."""
    try:
        os.getcwd()
    except FileNotFoundError:
        os.write(2, b"error: the working folder was deleted: change to an existing folder "
                    b"(libtorch cannot start in a deleted one)\n")
        os._exit(1)
