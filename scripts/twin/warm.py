"""A warm `reference.py` for the tests: one server imports torch once (1.5 to 2.5 s), then runs
each case in a forked copy of itself, as `python scripts/reference.py ARGS` would run it.

    python scripts/twin/warm.py serve SOCKET
        listens on SOCKET (a path, or @name for an abstract socket), prints "ready" once torch is imported, ends when its stdin closes
        (the test process that started it is gone) and kills the cases still running.
    python -I -S scripts/twin/warm.py served SOCKET
        prints how many cases the server has run warm (forked).
    python -I -S scripts/twin/warm.py run SOCKET SCRIPT ARGS...
        one case, `python SCRIPT ARGS...`: hands its stdin, stdout and stderr (the descriptors
        themselves), working directory and arguments to the server, which forks; the fork runs
        SCRIPT as __main__ on them and ends as the interpreter would. `run` exits with the fork's
        status, or dies of its signal. If `run` is killed, the server kills the fork.

What a fresh process would inherit is compared first (`inherited`): the environment, the resource
limits, the ignored and blocked signals, credentials, namespaces, whether stdout is a terminal. If any differs from the
server's, `run` executes `python SCRIPT ARGS...` itself (cold), so a case that sets a limit or a
signal disposition (tests/interrupt.rs, tests/outputs.rs) still gets a real process.
Used by tests/common (`reference`) and scripts/parity.py; tests/warm.rs checks that warm and
cold runs print the same bytes and exit alike.
"""
import json
import os
import resource
import select
import signal
import socket
import struct
import sys

LIMITS = [getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")]


def inherited():
    """What a program started now inherits, in a form that compares equal between processes:
    environment, limits, signal dispositions and mask, credentials and capabilities, CPU
    affinity, namespaces, root folder, umask, and whether stdout is a terminal."""
    fields = ("SigIgn", "SigBlk", "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
              "CapAmb", "NoNewPrivs", "Seccomp", "Cpus_allowed_list")
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
                  if line.startswith(fields))
    root = os.stat("/")
    return {
        "env": dict(os.environ),
        "limits": sorted([n, *resource.getrlimit(n)] for n in LIMITS),
        "status": {k: v.strip() for k, v in status.items()},
        "namespaces": {n: os.readlink(f"/proc/self/ns/{n}") for n in sorted(os.listdir("/proc/self/ns"))},
        "root": [root.st_dev, root.st_ino],
        "tty": os.isatty(1),
        "umask": os.umask(os.umask(0)),
    }


def send(sock, data):
    sock.sendall(struct.pack("!I", len(data)) + data)


def receive(sock, fds=0):
    """One length-prefixed message, with up to `fds` descriptors passed along with it."""
    data, received, _, _ = socket.recv_fds(sock, 1 << 16, fds) if fds else (sock.recv(1 << 16), [], 0, 0)
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        more = sock.recv(1 << 16)
        if not more:
            raise EOFError("the other side closed the connection")
        data += more
    return data[4:], received


# ---------------------------------------------------------------- the client: one case
def address(path):
    """A Unix socket's address; "@name" is the abstract `name` (no file to remove)."""
    return "\0" + path[1:] if path.startswith("@") else path


def run(path, script, args):
    argv = [sys.executable, script, *args]
    try:
        os.getcwd()
    except FileNotFoundError:  # a deleted working folder: the script says so itself
        os.execv(sys.executable, argv)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(address(path))
    except OSError:  # no server to be reached from here (another network namespace): cold
        os.execv(sys.executable, argv)
    request = json.dumps({"cwd": os.getcwd(), "argv": [script, *args], "inherited": inherited()}).encode()
    socket.send_fds(client, [struct.pack("!I", len(request)) + request], [0, 1, 2])
    answer, _ = receive(client)
    if answer == b"cold":
        client.close()
        os.execv(sys.executable, argv)
    status = int(answer)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


# ---------------------------------------------------------------- the server
def serve(path):
    """Returns only in a forked case, with what the case needs; the server itself exits."""
    mine = inherited()  # before the imports: torch._dynamo sets TORCHINDUCTOR_CACHE_DIR (a cold
    # run sets it at its first optimizer step)
    # The seconds paid once: torch, torch._dynamo (imported by the first optimizer step: 0.9 s)
    # and the modules of scripts/ that reference.py imports; none of them runs a tensor operation
    # or keeps state at import.
    import torch._dynamo  # noqa: F401
    from lesson import activations, autograd, fully_connected, softmax_regression  # noqa: F401
    from twin import errors, files, options, report, signals, trace  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address(path))
    listener.listen(64)
    print("ready", flush=True)
    sys.stderr.flush()
    served = 0
    cases = {}  # pidfd -> (pid, connection)
    clients = {}  # connection's descriptor -> pid
    while True:
        ready, _, _ = select.select([0, listener, *cases, *clients], [], [])
        if 0 in ready and not os.read(0, 1 << 12):
            for pid, _ in cases.values():
                os.kill(pid, signal.SIGKILL)
            os._exit(0)
        if listener in ready:
            conn, _ = listener.accept()
            conn.settimeout(10)
            message, fds = receive(conn, 3)
            request = json.loads(message)
            if request.get("served"):
                send(conn, str(served).encode())
                conn.close()
            elif request["inherited"] != mine or len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                send(conn, b"cold")
                conn.close()
            else:
                served += 1
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for c in [conn, *(c for _, c in cases.values())]:
                        c.close()
                    for fd in cases:
                        os.close(fd)
                    return request, fds
                for fd in fds:
                    os.close(fd)
                cases[os.pidfd_open(pid)] = (pid, conn)
                clients[conn.fileno()] = pid
        for fd in ready:
            if fd in cases:
                pid, conn = cases.pop(fd)
                os.close(fd)
                clients.pop(conn.fileno(), None)
                _, status = os.waitpid(pid, 0)
                try:
                    send(conn, str(status).encode())
                except OSError:
                    pass  # the client is gone (killed by its deadline)
                conn.close()
            elif fd in clients:  # readable before its case ended: the client is gone
                os.kill(clients.pop(fd), signal.SIGKILL)


def case(request, fds):
    """In the fork: the case's descriptors, directory and arguments, then its script as __main__."""
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        end(0)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            end(e.code or 0)
        print(e.code, file=sys.stderr)
        end(1)
    except BaseException as e:  # as the interpreter reports it: the script's frames only
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != sys.argv[0]:
            tb = tb.tb_next
        sys.excepthook(type(e), e, tb or e.__traceback__)
        if isinstance(e, KeyboardInterrupt):  # Python ends by SIGINT then
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        end(1)


def end(status):
    """The interpreter's exit as a script sees it (threads joined, atexit functions run, stdout
    and stderr flushed: a failed flush is reported and gives 120), without tearing down the
    modules one by one: 0.7 s with torch._dynamo loaded, and nothing a case could see."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as e:
            status = 120
            print(f"Exception ignored in: {stream!r}\n{type(e).__name__}: {e}", file=sys.__stderr__)
    os._exit(status & 0xFF)

if __name__ == "__main__":
    command, socket_path, *rest = sys.argv[1:]
    if command == "run":
        run(socket_path, rest[0], rest[1:])
    elif command == "served":
        asking = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        asking.connect(address(socket_path))
        send(asking, b'{"served": true}')
        print(receive(asking)[0].decode())
    else:
        sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        case(*serve(socket_path))
