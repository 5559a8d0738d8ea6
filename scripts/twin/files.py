"""Writing the programs' outputs as src/io/files.rs does: through a temp file and a rename, a
device or a pipe in place; outputs checked before any work; no output replacing an input."""
import errno
import json
import os
import stat
import sys
import tempfile

from twin.signals import NAMES, Stopped


def write_json(path, value):
    """Pretty JSON to PATH through a temp file and a rename (`-` = stdout)."""
    text = json.dumps(value, indent=2) + "\n"
    if path == "-":
        # Written to the descriptor until every byte is out: an unbuffered stdout
        # (PYTHONUNBUFFERED) would drop the rest of a partial write (a file-size limit) silently.
        sys.stdout.flush()
        data = memoryview(text.encode())
        while data:
            data = data[os.write(sys.stdout.fileno(), data):]
        return
    write_file(path, text.encode())


def is_special(path):
    """An existing path that is not a regular file (/dev/null, /dev/full, a pipe): written in
    place, never replaced by a rename (as src/io/files.rs does)."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def names_a_descriptor(path):
    """PATH names one of the process's open files (/dev/stdout, /dev/stderr, /dev/fd/N,
    /proc/PID/fd/N), itself or through symlinks: written through, never replaced (as Rust)."""
    def descriptor(p):
        parts = p.split("/")
        return (parts[:2] == ["", "dev"] and len(parts) == 3 and parts[2] in ("stdin", "stdout", "stderr")
                or parts[:3] == ["", "dev", "fd"] and len(parts) == 4
                or parts[:2] == ["", "proc"] and len(parts) == 5 and parts[3] == "fd")
    at = absolute(path)
    for _ in range(40):
        if at is None:
            return False
        if descriptor(at):
            return True
        try:
            target = os.readlink(at)
        except OSError:
            return False
        at = absolute(os.path.join(os.path.dirname(at), target))
    return False


def absolute(path):
    """PATH with its folder made absolute and free of symlinks, its last part kept (as Rust)."""
    folder, name = os.path.split(path)
    if not name:
        return None
    try:
        return os.path.join(os.path.realpath(folder or ".", strict=True), name)
    except OSError:
        return None


def writes_in_place(path):
    return is_special(path) or names_a_descriptor(path)


HELD_OPEN = {}  # in-place destinations opened by check_writable, kept open for write_file


def open_special(path):
    """A destination written in place, opened to append without blocking: a pipe with no reader
    is an error; a regular file behind /dev/stdout keeps what was printed to it."""
    if path in HELD_OPEN:
        return HELD_OPEN.pop(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb")


def temp_file_beside(path):
    """A new temp file in PATH's folder: random name, created with O_EXCL, never through a
    symlink (tempfile.mkstemp), as the tempfile crate makes it on the Rust side."""
    folder, name = os.path.split(path)
    # At most 200 bytes of the name, so that a 255-byte name stays writable (as Rust).
    short = name.encode()[:200].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{short}.", suffix=".tmp", dir=folder or ".")
    # Created as any new file is (0666 less the umask), or with the replaced file's permission
    # bits (0o777 only: never a setuid, setgid or sticky bit onto a file that is now ours).
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)
    return os.fdopen(fd, "wb"), tmp


def file_identity(path, output):
    """An input is the file it is read from (symlinks followed); an output its own name in its
    resolved folder (it replaces a symlink there). As src/cli.rs."""
    if not output and os.path.exists(path):
        return os.path.realpath(path)
    return absolute(path)


def distinct_files(files):
    """Refuses two options naming the same file where one is an output (usage error, as Rust)."""
    for i, (a, path_a, out_a) in enumerate(files):
        for b, path_b, out_b in files[i + 1:]:
            if not (out_a or out_b) or writes_in_place(path_a):
                continue
            x, y = file_identity(path_a, out_a), file_identity(path_b, out_b)
            if x is not None and x == y:
                print(f"error: {a} and {b} name the same file {path_b}: the output would replace it",
                      file=sys.stderr)
                sys.exit(2)


def check_writable(path):
    """Fails before any work when PATH cannot be written (as src/io/files.rs check_writable)."""
    try:
        if os.path.basename(path) == "" or os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "not a file path")
        if writes_in_place(path):
            # Kept open: closing it would tell a reader waiting on a pipe that the output ended.
            HELD_OPEN[path] = open_special(path)
            return
        f, tmp = temp_file_beside(path)
        f.close()
        os.remove(tmp)
    except OSError as e:
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def write_file(path, data):
    """Bytes to PATH through a temp file in the same folder, flushed and renamed over PATH; a
    failure removes the temp file and leaves PATH as it was. A device is written in place."""
    try:
        if os.path.basename(path) == "" or os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "not a file path")
        if writes_in_place(path):
            try:
                with open_special(path) as f:
                    f.write(data)
            except (Stopped, KeyboardInterrupt) as e:
                signum = e.signum if isinstance(e, Stopped) else 2
                print(f"error: interrupted by {NAMES[signum]}, while writing {path}: what it holds is incomplete",
                      file=sys.stderr)
                sys.exit(128 + signum)
            return
        f, tmp = temp_file_beside(path)
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.remove(tmp)
            raise
    except OSError as e:
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def read_regular(path, max_bytes, what):
    """A whole input file that must be a regular file of at most max_bytes (as src/io/files.rs
    read_regular): a FIFO, a device, a folder or a larger file is refused before reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        sys.exit(f"error: cannot read {what} {path}: {e.strerror}")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, a pipe or a socket)"
        sys.exit(f"error: cannot read {what} {path}: it is {kind}")
    if st.st_size > max_bytes:
        os.close(fd)
        sys.exit(f"error: cannot read {what} {path}: {st.st_size} bytes, more than the {max_bytes} bytes accepted")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        sys.exit(f"error: cannot read {what} {path}: more than the {max_bytes} bytes accepted")
    return data
