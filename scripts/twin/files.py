"""Writing the programs' outputs as src/io/files.rs does: through a temp file and a rename, a
device or a pipe in place; outputs checked before any work; no output replacing an input."""
import errno
import fcntl
import io
import json
import os
import re
import select
import stat
import sys
import tempfile

from twin.errors import escape_controls
from twin.signals import NAMES, Stopped


def write_waiting(fd, data):
    """os.write(fd, data), waiting while it would block (a non-blocking pipe whose reader is
    slow), in steps of 100 ms, as src/io/files.rs write_waiting: a signal handler runs meanwhile."""
    while True:
        try:
            return os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [], 0.1)


class _Waiting(io.RawIOBase):
    """A descriptor written with write_waiting."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def writable(self):
        return True

    def fileno(self):
        return self.fd

    def write(self, data):
        data = memoryview(data)
        total = len(data)
        while data:  # every byte: an unbuffered TextIOWrapper would drop a partial write's rest
            data = data[write_waiting(self.fd, data):]
        return total


def patient_stdout():
    """sys.stdout, rebuilt over a writer that waits where a write would block: a supervisor may
    hand the program a non-blocking pipe, and Python's own stdout then drops what does not fit
    (65,536 bytes kept of a 700 kB report, status 0). The same text encoding and buffering
    (PYTHONUNBUFFERED's write-through included)."""
    old = sys.stdout
    if old is None:  # stdout closed at start (`>&-`): nothing to rebuild
        return
    old.flush()
    raw = _Waiting(old.fileno())
    unbuffered = isinstance(old.buffer, io.RawIOBase)
    sys.stdout = io.TextIOWrapper(raw if unbuffered else io.BufferedWriter(raw), encoding=old.encoding,
                                  errors=old.errors, line_buffering=old.line_buffering,
                                  write_through=old.write_through)


def write_json(path, value):
    """Pretty JSON to PATH through a temp file and a rename (`-` = stdout)."""
    text = json.dumps(value, indent=2) + "\n"
    if path == "-":
        if sys.stdout is None:  # stdout closed at start: written to nothing, as Rust's stdout does
            return
        # Written to the descriptor until every byte is out: an unbuffered stdout
        # (PYTHONUNBUFFERED) would drop the rest of a partial write (a file-size limit) silently.
        sys.stdout.flush()
        data = memoryview(text.encode())
        while data:
            data = data[write_waiting(sys.stdout.fileno(), data):]
        return
    write_file(path, text.encode())


def is_special(path):
    """An existing path that is not a regular file (/dev/null, /dev/full, a pipe): written in
    place, never replaced by a rename (as src/io/files.rs does)."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def names_a_descriptor(path):
    """PATH names one of the process's open files (/dev/stdout, /dev/stderr, /dev/fd/N,
    /proc/PID/fd/N), itself or through symlinks: written through, never replaced (as Rust)."""
    return descriptor_named(path) is not False


def descriptor_named(path):
    """The descriptor PATH names, as (pid, n): pid None for one of this process's own, n -1 when
    its number cannot be read; False when PATH names no descriptor (as src/io/files.rs)."""
    def number(n):
        return int(n) if n.isdigit() and n.isascii() and int(n) < 2**31 else -1

    def descriptor(p):
        parts = p.split("/")
        if parts[:2] == ["", "dev"] and len(parts) == 3 and parts[2] in ("stdin", "stdout", "stderr"):
            return None, ("stdin", "stdout", "stderr").index(parts[2])
        if parts[:3] == ["", "dev", "fd"] and len(parts) == 4:
            return None, number(parts[3])
        if parts[:2] == ["", "proc"] and len(parts) == 5 and parts[3] == "fd":
            own = parts[2] in ("self", str(os.getpid()))
            return (None if own else parts[2]), number(parts[4])
        return False
    at = absolute(path)
    for _ in range(40):
        if at is None:
            return False
        fd = descriptor(at)
        if fd is not False:
            return fd
        try:
            target = os.readlink(at)
        except OSError:
            return False
        at = absolute(os.path.join(os.path.dirname(at), target))
    return False


def std_streams_past(fd):
    """Moves stdout and stderr to the end of their file when it is the regular file FD was
    written in place (as src/sys.rs std_streams_past): a later error line follows the output."""
    try:
        written = os.fstat(fd)
    except OSError:
        return
    if not stat.S_ISREG(written.st_mode):
        return
    for std in (1, 2):
        try:
            st = os.fstat(std)
            if (st.st_dev, st.st_ino) == (written.st_dev, written.st_ino):
                os.lseek(std, 0, os.SEEK_END)
        except OSError:
            pass


def refuse_read_only_descriptor(path):
    """An output naming a descriptor open for reading only, this process's or another's (its
    flags in /proc/PID/fdinfo/N), as src/io/files.rs refuse_read_only_descriptor."""
    named = descriptor_named(path)
    if named is False or named[1] < 0:
        return
    pid, fd = named
    try:
        if pid is None:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        else:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = next(int(l.split(":", 1)[1].strip(), 8) for l in f if l.startswith("flags:"))
    except (OSError, ValueError, StopIteration):
        return
    if flags & os.O_ACCMODE == os.O_RDONLY:
        sys.exit(f"error: cannot write {path}: descriptor {fd} is open for reading only")


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
        old = os.stat(path)
        mode = old.st_mode & 0o777
    except OSError:
        old = None
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)
    # Root replacing another user's file gives it back to its owner and group (as Rust).
    if old is not None and os.geteuid() == 0 and (old.st_uid, old.st_gid) != (0, 0):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError:
            pass
    return os.fdopen(fd, "wb"), tmp


class FileId:
    """An existing file: on one device by inode; across devices by size and times to the
    nanosecond (an overlay shows a lower layer's file under its own device, with xino=on under
    another inode number). As src/cli.rs Identity."""

    def __init__(self, st):
        self.dev, self.ino, self.stamp = st.st_dev, st.st_ino, (st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def __eq__(self, other):  # across devices the inode may differ too (an overlay with xino=on)
        return isinstance(other, FileId) and (
            self.ino == other.ino if self.dev == other.dev else self.stamp == other.stamp)


def file_identity(path, output):
    """What PATH stands for, by device and inode (as src/cli.rs file_identity): an input, the
    file it is read from; an output written in place, the regular file it leads to (None for a
    device); an output that is replaced, the file at its name (not through a symlink), or its
    name in its folder when there is none."""
    try:
        if not output or writes_in_place(path):
            st = os.stat(path)
            return FileId(st) if not output or stat.S_ISREG(st.st_mode) else None
        try:
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                return FileId(st)
        except FileNotFoundError:
            pass
        at = absolute(path)
        if at is None:
            return None
        folder = os.stat(os.path.dirname(at))
        return ("name", folder.st_dev, folder.st_ino, os.path.basename(at))
    except (OSError, ValueError):
        return None


def distinct_files(files):
    """Refuses two options standing for the same file where one is an output (usage error, as
    Rust): by identity, so a bind mount, a hard link or /dev/stdin is seen through."""
    # Stderr redirected into an input is refused, without a line (that would go into the input).
    try:
        st = os.fstat(2)
        err = FileId(st) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        err = None
    for name, path, output in files:
        if err is not None and not output and file_identity(path, False) == err:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # refused, without a line into the input
            sys.exit(2)
    for i, (a, path_a, out_a) in enumerate(files):
        for b, path_b, out_b in files[i + 1:]:
            if not (out_a or out_b):
                continue
            x, y = file_identity(path_a, out_a), file_identity(path_b, out_b)
            if x is not None and x == y:
                print(escape_controls(f"error: {a} and {b} name the same file {path_b}: the output would replace it"),
                      file=sys.stderr)
                sys.exit(2)
    # Stdout and stderr redirected to a file are outputs too (as src/cli.rs distinct_files); an
    # error line into an input is not written at all (stderr goes to /dev/null).
    for stream, fd in (("stdout", 1), ("stderr", 2)):
        try:
            st = os.fstat(fd)
            stream_file = FileId(st) if stat.S_ISREG(st.st_mode) else None
        except OSError:
            stream_file = None
        for name, path, output in files:
            replaced = output and not writes_in_place(path)
            if stream_file is not None and (replaced or not output) and file_identity(path, output) == stream_file:
                if fd == 2:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
                print(escape_controls(f"error: {name} and {stream} name the same file {path}: one would overwrite "
                                      "the other"), file=sys.stderr)
                sys.exit(2)


def names_a_file(path):
    """Its last part, as written, is not empty, "." or ".." (as src/io/files.rs)."""
    return os.path.basename(path) not in ("", ".", "..")


def mount_points():
    """/proc/self/mountinfo's fifth field, its \\ooo escapes undone."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().split(b"\n")
    except OSError:
        return []
    unescape = lambda m: bytes([int(m.group(1), 8)])  # noqa: E731
    points = []
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            points.append(os.fsdecode(re.sub(rb"\\([0-7]{3})", unescape, fields[4])))
    return points


def cannot_be_replaced(path):
    """Why an existing file at PATH cannot be replaced by a rename (as src/io/files.rs): a mount
    point, or another user's file in a sticky folder; None when it can."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return None
    at = absolute(path)
    if at is None:
        return None
    if at in mount_points():
        return "a mount point"
    try:
        folder = os.stat(os.path.dirname(at))
    except OSError:
        return None
    me = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and me != 0 and st.st_uid != me and folder.st_uid != me:
        return "another user's file in a sticky folder"
    # What a rename would lose and the shell's `>` keeps (as src/io/files.rs).
    if me != 0 and st.st_uid != me:
        return "another user's file"
    if st.st_nlink > 1:
        return "a file with other hard links"
    try:
        names = os.listxattr(at, follow_symlinks=False)
    except OSError:
        names = []
    if any(n.startswith(("user.", "system.posix_acl")) for n in names):
        return "a file with an ACL or extended attributes"
    return None


def copy_in_place(data, path):
    """DATA into PATH in place, never through a symlink (as src/io/files.rs copy_in_place): the
    space is reserved first (posix_fallocate), so that a full disk fails before a byte of the
    old file is overwritten; then written from the start, and cut to its new length."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "wb") as f:
        try:
            os.posix_fallocate(fd, 0, len(data))
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
        f.write(data)
        f.flush()
        os.ftruncate(fd, len(data))
        os.fsync(fd)


APPEND_ONLY = "its folder is append-only (chattr +a): a file there cannot be replaced"


def append_only_folder(folder):
    """Whether FOLDER is append-only (chattr +a): files can be made in it but none removed or
    renamed away, so a temp file there would stay (as src/sys.rs append_only_folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        flags = fcntl.ioctl(fd, 0x80086601, bytes(8))  # FS_IOC_GETFLAGS
        return int.from_bytes(flags[:4], sys.byteorder) & 0x20 != 0  # FS_APPEND_FL
    except OSError:
        return False
    finally:
        os.close(fd)


def check_writable(path):
    """Fails before any work when PATH cannot be written (as src/io/files.rs check_writable)."""
    try:
        if not names_a_file(path) or os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "not a file path")
        if writes_in_place(path):
            refuse_read_only_descriptor(path)
            # Kept open: closing it would tell a reader waiting on a pipe that the output ended.
            HELD_OPEN[path] = open_special(path)
            return
        if len(os.fsencode(os.path.basename(path))) > 255:  # the probe keeps 200 bytes of it
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        if append_only_folder(os.path.dirname(path) or "."):
            raise OSError(errno.EPERM, APPEND_ONLY)
        f, tmp = temp_file_beside(path)
        f.close()
        os.remove(tmp)
        # A file that its owner made read-only is not replaced, as the shell's `>` would not.
        if os.path.isfile(path) and not os.access(path, os.W_OK, effective_ids=True):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        if cannot_be_replaced(path):  # written in place: it must open for writing
            os.close(os.open(path, os.O_WRONLY))
    except OSError as e:
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def write_file(path, data):
    """Bytes to PATH through a temp file in the same folder, flushed and renamed over PATH; a
    failure removes the temp file and leaves PATH as it was. A device is written in place."""
    try:
        if not names_a_file(path) or os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "not a file path")
        if writes_in_place(path):
            refuse_read_only_descriptor(path)
            sys.stdout.flush()  # the text printed so far comes first, if this is stdout's file
            try:
                with open_special(path) as f:
                    try:
                        f.write(data)
                        f.flush()
                    finally:
                        std_streams_past(f.fileno())
            except (Stopped, KeyboardInterrupt) as e:
                signum = e.signum if isinstance(e, Stopped) else 2
                print(escape_controls(f"error: interrupted by {NAMES[signum]}, while writing {path}: what it holds "
                                      "is incomplete"),
                      file=sys.stderr)
                sys.exit(128 + signum)
            return
        f, tmp = temp_file_beside(path)
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            reason = cannot_be_replaced(path)
            if reason is None:
                try:
                    os.replace(tmp, path)
                    return
                except OSError as e:  # a rename failure the check could not foresee
                    if e.errno not in (errno.EBUSY, errno.EPERM, errno.EACCES, errno.EXDEV) \
                            or not os.path.isfile(path):
                        raise
                    reason = f"a file a rename cannot replace ({e.strerror} (os error {e.errno}))"
            copy_in_place(data, path)
            os.remove(tmp)
            print(escape_controls(f"note: {path} is {reason}: written in place"), file=sys.stderr)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    except OSError as e:
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def read_regular(path, max_bytes, what):
    """A whole input file that must be a regular file of at most max_bytes (as src/io/files.rs
    read_regular): a FIFO, a device, a folder or a larger file is refused before reading; a
    failed read (/proc/self/mem) is named as a failed open is."""
    where = f"cannot read {what} {path}".rstrip()  # an empty path: as Rust words it
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        sys.exit(f"error: {where}: {e.strerror}")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, a pipe or a socket)"
        sys.exit(f"error: {where}: it is {kind}")
    if st.st_size > max_bytes:
        os.close(fd)
        sys.exit(f"error: {where}: {st.st_size} bytes, more than the {max_bytes} bytes accepted")
    os.set_blocking(fd, True)
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        sys.exit(f"error: {where}: {e.strerror}")
    if len(data) > max_bytes:
        sys.exit(f"error: {where}: more than the {max_bytes} bytes accepted")
    return data
