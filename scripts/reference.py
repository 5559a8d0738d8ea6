#!/usr/bin/env python3
"""The lesson's PyTorch code, with the same options, text output and JSON trace as the Rust
programs, so that the two can be compared bit for bit (scripts/parity.py).

    python scripts/reference.py softmax [--seed 7] [--epochs 70] [--lr 0.1] [--samples 7]
                                        [--logits] [--device cpu] [--json PATH]
"""
import argparse
import errno
import json
import math
import os
import re
import signal
import stat
import sys
import tempfile
import warnings

import torch
import torch.nn.functional as F
from torch import nn


# The lesson formats the loss tensor itself ('%.4f' % train_l), which makes PyTorch warn about
# converting a tensor that requires grad; the value is what the lesson prints, so keep it quiet.
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")


# ---------------------------------------------------------------- shared helpers
def device_arg(name):
    """--device's spelling (an argparse type, as src/device.rs DeviceRequest::parse): a misspelt
    device is a usage error."""
    index = name[5:] if name.startswith("cuda:") else None
    if name in ("cpu", "cuda", "auto") or (
            index and all("0" <= c <= "9" for c in index) and int(index) < 2**64):
        return name
    raise argparse.ArgumentTypeError(f"unknown device '{name}': expected cpu, cuda, cuda:N or auto")


def parse_device(name):
    """--device cpu|cuda|cuda:N|auto, checked against the machine (as src/device.rs)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda:0" if count > 0 else "cpu")
    index = 0 if name == "cuda" else None
    if name.startswith("cuda:") and name[5:].isdigit():
        index = int(name[5:])
    if index is None:
        sys.exit(f"error: unknown device '{name}': expected cpu, cuda, cuda:N or auto")
    if count == 0:
        sys.exit(f"error: device cuda:{index} is not available: this machine has no CUDA device")
    if index >= count:
        sys.exit(f"error: device cuda:{index} is not available: this machine has {count} CUDA device(s)")
    return torch.device(f"cuda:{index}")


def number(v):
    """A float for JSON; NaN and infinities as strings, as src/io/trace.rs writes them."""
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def tensor_json(t):
    """A tensor as nested lists of Python floats (f32 widened exactly to f64)."""
    values = t.detach().cpu().double().tolist()
    if isinstance(values, float):
        return number(values)

    def walk(v):
        return [walk(x) for x in v] if isinstance(v, list) else number(v)

    return walk(values)


def named_json(module):
    return {name: tensor_json(p) for name, p in module.named_parameters()}


def grads_json(module):
    return {name: None if p.grad is None else tensor_json(p.grad) for name, p in module.named_parameters()}


def trace(program, device, config, fields):
    """A program's trace: the header every program writes (program, torch_version, device and
    config), then the program's own fields (as src/io/trace.rs trace)."""
    return {"program": program, "torch_version": torch.__version__, "device": str(device), "config": config, **fields}


def write_json(path, value):
    """Pretty JSON to PATH through a temp file and a rename (`-` = stdout)."""
    text = json.dumps(value, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    write_file(path, text.encode())


def is_special(path):
    """An existing path that is not a regular file (/dev/null, /dev/full, a pipe): written in
    place, never replaced by a rename (as src/io/files.rs does)."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


class Terminated(BaseException):
    """SIGTERM, raised wherever the program is, as Python raises KeyboardInterrupt for SIGINT: the
    same cleanup (a temp file removed) and the same one line, status 143 (as src/cli.rs)."""


def on_sigterm(signum, frame):
    raise Terminated()


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
    # Created as any new file is (0666 less the umask), or with the replaced file's mode.
    try:
        mode = os.stat(path).st_mode & 0o7777
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
            except (KeyboardInterrupt, Terminated) as e:
                name, code = ("SIGTERM", 143) if isinstance(e, Terminated) else ("SIGINT", 130)
                print(f"error: interrupted by {name}, while writing {path}: what it holds is incomplete",
                      file=sys.stderr)
                sys.exit(code)
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


def torch_error(e):
    """The first line of a libtorch error, without its C++ backtrace (as src/lib.rs)."""
    return next((l.strip() for l in str(e).splitlines() if l.strip()), "unknown libtorch error")


def diverged(loss, what):
    """The error for a loss that is no longer finite (as src/cli.rs words it): stop, exit 1."""
    print("error: the loss is %s at %s: training diverged (try a smaller --lr, or --allow-nan to watch it)"
          % (fmt_value(loss, 4), what), file=sys.stderr)
    sys.exit(1)


def rust_number(convert, s):
    """`convert(s)`, reading only what Rust's parsers read as a number: no '_' separators, no
    non-ASCII digits (ValueError otherwise)."""
    if "_" in s or not s.strip().isascii():
        raise ValueError(s)
    return convert(s)


def number_arg(convert, ok, requirement):
    """An argparse type: `convert` the text (rust_number), then require `ok(value)` (as
    src/cli.rs words it)."""
    kind = "an integer" if convert is int else "a number"

    def parse(s):
        try:
            v = rust_number(convert, s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not {kind}")
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{requirement}, got {v}")
        return v

    return parse


def int_in_range(lo, hi=2**63 - 1):
    """An integer option from lo to hi (as src/cli.rs int_in_range, with its words)."""

    def parse(s):
        t = s.strip()
        digits = t[1:] if t[:1] in "+-" else t
        if not digits or not all("0" <= c <= "9" for c in digits):
            raise argparse.ArgumentTypeError(f"'{s}' is not an integer")
        v = int(t)
        if lo <= v <= hi:
            return v
        if v < lo and hi == 2**63 - 1:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {v}")

    return parse


positive_int = int_in_range(1)
MAX_RATE = 3.4028234663852886e+38  # float32's largest: the parameters are float32 (src/cli.rs)
positive_finite = number_arg(float, lambda v: 0 < v <= MAX_RATE,
                             f"must be greater than 0 and at most {MAX_RATE!r} (float32's largest)")
non_negative_finite = number_arg(float, lambda v: 0 <= v <= MAX_RATE,
                                 f"must be from 0 to {MAX_RATE!r} (float32's largest)")
fraction = number_arg(float, lambda v: 0 < v < 1, "must be between 0 and 1 (exclusive)")


def seed_value(s):
    try:
        v = rust_number(int, s)
    except ValueError:
        v = -1
    if v < 0 or v > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"'{s}' is not a seed: expected an integer from 0 to {2**63 - 1}")
    return v


# ---------------------------------------------------------------- section 2: softmax regression
class LinearNet(nn.Module):
    def __init__(self, logits=False):
        super(LinearNet, self).__init__()
        self.dense = nn.Linear(4, 3)
        self.softmax = nn.Softmax(dim=1)
        self.logits = logits  # --logits: return the raw scores, the correct input of CrossEntropyLoss

    def forward(self, x):
        y = self.dense(x.view((-1, 4)))
        if not self.logits:
            y = self.softmax(y)
        return y


def softmax(args):
    device = parse_device(args.device)
    torch.manual_seed(args.seed)
    try:  # data that cannot fit in memory: one line naming the option (as src/programs/softmax.rs)
        X = torch.rand((args.samples, 2, 2)).to(device)
        target = torch.randint(0, 2, (args.samples,)).to(device)
    except RuntimeError as e:
        sys.exit(f"error: --samples {args.samples}: cannot make the data: {torch_error(e)}")

    net = LinearNet(logits=args.logits).to(device)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    initial = named_json(net.dense)

    losses = []
    for epoch in range(args.epochs):
        train_l = 0.0
        try:
            y_hat = net(X)
            l = loss(y_hat, target).sum()
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
        except RuntimeError as e:
            sys.exit(f"error: epoch {epoch + 1} (--samples {args.samples}): {torch_error(e)}")
        train_l += l
        if not math.isfinite(train_l) and not args.allow_nan:
            diverged(float(train_l), "epoch %d" % (epoch + 1))
        if args.json:  # every loss is kept only for the trace: a long run streams
            losses.append(float(train_l))
        if args.json != "-":
            print('epoch %d, loss %.4f' % (epoch + 1, train_l))

    if args.json:
        config = {"seed": args.seed, "epochs": args.epochs, "lr": args.lr, "samples": args.samples, "logits": args.logits}
        write_json(args.json, trace("softmax", device, config, {
            "initial_parameters": initial,
            "losses": [number(v) for v in losses],
            "final_parameters": named_json(net.dense),
            "final_grads": grads_json(net.dense),
        }))


def add_softmax_parser(sub):
    p = sub.add_parser("softmax", help="the lesson's softmax regression (LinearNet)")
    p.add_argument("--seed", type=seed_value, default=7, help="random seed (torch.manual_seed)")
    p.add_argument("--epochs", type=positive_int, default=70, help="number of training epochs")
    p.add_argument("--lr", type=positive_finite, default=0.1, help="SGD learning rate")
    p.add_argument("--samples", type=positive_int, default=7, help="X = rand(samples, 2, 2)")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--logits", action="store_true", help="train on the raw logits")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=softmax)


# ---------------------------------------------------------------- report helpers (src/io/report.rs)
def fmt_value(v, d):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.*f" % (d, v)


def fmt_tensor(t, d):
    """A tensor's values with d decimals, nested like the tensor: [5.0000], [[0.1000, ...], ...]."""
    values = t.detach().cpu().double().tolist()

    def walk(v):
        return "[" + ", ".join(walk(x) for x in v) + "]" if isinstance(v, list) else fmt_value(v, d)

    return walk(values)


class Block:
    def __init__(self, title):
        self.title, self.lines, self.values = title, [], {}

    def line(self, text):
        self.lines.append(text)
        return self

    def tensor(self, name, t):
        self.values[name] = tensor_json(t)
        return self

    def number(self, name, v):
        self.values[name] = number(v)
        return self

    def value(self, name, v):
        self.values[name] = v
        return self


class Report:
    """The walkthrough's output, printed block by block as each is complete (a long loop line
    by line, through stream_line), with the values kept only for a JSON trace (as
    src/io/report.rs's live output)."""

    def __init__(self, program, device, config, json_path=None, live=True):
        self.program, self.device, self.config, self.blocks = program, device, config, []
        self.json_path, self.printed, self.live = json_path, 0, live

    def prints_text(self):
        return self.live and self.json_path != "-"

    def keeps_values(self):
        return not self.live or self.json_path is not None

    def header(self, title):
        if self.printed:
            sys.stdout.write("\n")
        self.printed += 1
        sys.stdout.write("== %s\n" % title)

    def push(self, block):
        if self.prints_text() and not getattr(block, "streamed", False):
            self.header(block.title)
            sys.stdout.write("".join(l + "\n" for l in block.lines))
            sys.stdout.flush()
        if self.keeps_values():
            if self.live:
                block.lines = []
            self.blocks.append(block)

    def stream_line(self, block, text):
        if self.prints_text():
            if not getattr(block, "streamed", False):
                block.streamed = True
                self.header(block.title)
            sys.stdout.write(text + "\n")

    def emit(self, json_path, text=True):
        if not self.live and text and json_path != "-":
            text = "\n".join("== %s\n%s" % (b.title, "".join(l + "\n" for l in b.lines)) for b in self.blocks)
            sys.stdout.write(text)
        sys.stdout.flush()
        if json_path:
            blocks = [{"title": b.title, "values": b.values} for b in self.blocks]
            write_json(json_path, trace(self.program, self.device, self.config, {"blocks": blocks}))


# ---------------------------------------------------------------- section 3: autograd
def autograd_demo(args):
    """The blocks in order, each made by the function of that name (as in
    src/programs/autograd_demo.rs)."""
    if args.graph == "-" and args.json == "-":
        print("error: --graph - and --json - cannot both write to stdout", file=sys.stderr)
        sys.exit(2)
    device = parse_device(args.device)
    report = Report("autograd_demo", device, {}, args.json, live=False)
    w, x, a, b, y = make_graph(device)
    report.push(lesson_graph(w, x, a, b, y))
    report.push(accumulation(w, x, y))
    report.push(leaves(w, x, a, b, y, device))
    report.push(in_place_error(w))
    report.push(retain_graph(device))
    report.push(grad_tensors(device))
    report.push(create_graph(device))
    block = computation_graph(device)
    report.push(block)
    if args.graph == "-":
        # `--graph -`: the graph block alone (src/bin/autograd_demo.rs does the same).
        sys.stdout.write("== %s\n%s" % (block.title, "".join(l + "\n" for l in block.lines)))
        sys.stdout.flush()
        report.emit(args.json, text=False)
        return
    report.emit(args.json)


LESSON_GRAPH = "y = (w + x) * (w + 1)"
DERIVATIVE_GRAPH = "d1 = dy/dx of y = x ** 3, with create_graph=True"


def show(t):
    return fmt_tensor(t, 4)


def show_grad(t):
    return "None" if t.grad is None else show(t.grad)


def read_grad(t):
    """A tensor's .grad, leaf or not, read from the tensor: the text and the trace value. A
    non-leaf's .grad is None unless retain_grad() was called before backward (reading it warns;
    the value is what the lesson shows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        grad = t.grad
    return ("None", None) if grad is None else (show(grad), tensor_json(grad))


def make_graph(device):
    """The lesson's graph on fresh leaves w = [1.], x = [2.]."""
    w = torch.tensor([1.], requires_grad=True, device=device)
    x = torch.tensor([2.], requires_grad=True, device=device)
    a = torch.add(w, x)
    b = torch.add(w, 1)
    y = torch.mul(a, b)
    return w, x, a, b, y


def record_grads(block, w, x, suffix=""):
    block.line("w.grad = %s" % show_grad(w)).line("x.grad = %s" % show_grad(x))
    block.tensor("w.grad" + suffix, w.grad).tensor("x.grad" + suffix, x.grad)


def lesson_graph(w, x, a, b, y):
    """1. The lesson's graph."""
    block = Block("1. The lesson's graph: y = (w + x) * (w + 1)")
    block.line("w = %s, x = %s (leaves, requires_grad=True)" % (show(w), show(x)))
    block.line("a = torch.add(w, x) = %s" % show(a))
    block.line("b = torch.add(w, 1) = %s" % show(b))
    block.line("y = torch.mul(a, b) = %s" % show(y))
    block.line("y.backward(retain_graph=True)").tensor("y", y)
    y.backward(retain_graph=True)
    record_grads(block, w, x)
    block.line("dy/dw = b + a = 2 + 3 = 5, dy/dx = b = 2")
    return block


def accumulation(w, x, y):
    """2. Accumulation."""
    block = Block("2. Gradients accumulate: backward does not zero them")
    block.line("y.backward(retain_graph=True) again, on the retained graph")
    y.backward(retain_graph=True)
    record_grads(block, w, x, " after 2 passes")
    block.line("w.grad.zero_(); x.grad.zero_(); y.backward(retain_graph=True)")
    w.grad.zero_()
    x.grad.zero_()
    y.backward(retain_graph=True)
    record_grads(block, w, x, " after zeroing")
    return block


def leaves(w, x, a, b, y, device):
    """3. Leaves and non-leaves."""
    block = Block("3. Leaves and non-leaves")
    block.line("name  is_leaf  requires_grad  grad")
    for name, t in [("w", w), ("x", x), ("a", a), ("b", b), ("y", y)]:
        # Read from the tensor itself, leaf or not: a non-leaf's .grad is None unless retain_grad()
        # was called before backward (reading it warns; the value is what the lesson shows).
        shown, value = read_grad(t)
        block.line("%-5s %-8s %-14s %s" % (name, t.is_leaf, t.requires_grad, shown))
        block.value(name + ".is_leaf", t.is_leaf).value(name + ".requires_grad", t.requires_grad)
        block.value(name + ".grad", value)
    block.line("a, b and y require grad because they depend on a leaf that does;")
    block.line("only leaves keep .grad after backward (non-leaves need retain_grad()).")
    _, _, a3, b3, y3 = make_graph(device)
    a3.retain_grad()
    y3.backward()
    (a_shown, a_value), (b_shown, b_value) = read_grad(a3), read_grad(b3)
    block.line("on a fresh graph, a.retain_grad(); y.backward(): a.grad = %s (dy/da = b = 2), b.grad = %s"
               % (a_shown, b_shown))
    block.value("a.grad with retain_grad", a_value)
    block.value("b.grad without", b_value)
    return block


def in_place_error(w):
    """4. In-place change of a leaf."""
    block = Block("4. A leaf that requires grad cannot be changed in place")
    try:
        w.add_(1)
        outcome = "no error"
    except RuntimeError as e:
        outcome = "RuntimeError: %s" % str(e).splitlines()[0]
    block.line("w.add_(1)").line("-> %s" % outcome)
    block.line("w is unchanged: %s" % show(w))
    block.value("in_place_error", outcome).tensor("w after", w)
    return block


def retain_graph(device):
    """5. retain_graph."""
    block = Block("5. retain_graph: a graph is freed by the backward pass that does not retain it")
    w, x, a, b, y = make_graph(device)
    block.line("y = (w + x) * (w + 1); y.backward()  # retain_graph defaults to create_graph=False")
    y.backward()
    try:
        y.backward()
        second = "no error"
    except RuntimeError as e:
        second = "RuntimeError: %s" % str(e).splitlines()[0]
    block.line("y.backward()").line("-> %s" % second)
    block.value("second_backward_error", second)
    return block


def grad_tensors(device):
    """6. grad_tensors."""
    block = Block("6. grad_tensors: several outputs in one pass, weighted")
    w, x, a, b, y = make_graph(device)
    y0 = a * b
    y1 = a + b
    weights = torch.tensor([1., 2.], device=device)
    block.line("y0 = a * b = %s, y1 = a + b = %s" % (show(y0), show(y1)))
    block.line("torch.autograd.backward([y0, y1], grad_tensors=[tensor([1.]), tensor([2.])])")
    torch.autograd.backward([y0, y1], grad_tensors=[weights[0:1], weights[1:2]])
    record_grads(block, w, x)
    block.line("w.grad = 1 * 5 + 2 * 2 = 9, x.grad = 1 * 2 + 2 * 1 = 4")
    return block


def create_graph(device):
    """7. create_graph."""
    block = Block("7. create_graph: higher-order derivatives of y = x^3 at x = 2")
    x = torch.tensor([2.], requires_grad=True, device=device)
    y = x ** 3
    (d1,) = torch.autograd.grad(y, x, create_graph=True)
    block.line("y = x ** 3 = %s" % show(y))
    block.line("d1 = torch.autograd.grad(y, x, create_graph=True) = %s (3x^2), d1.requires_grad = %s"
               % (show(d1), d1.requires_grad))
    (d2,) = torch.autograd.grad(d1, x, create_graph=True)
    block.line("d2 = torch.autograd.grad(d1, x, create_graph=True) = %s (6x)" % show(d2))
    (d3,) = torch.autograd.grad(d2, x)
    block.line("d3 = torch.autograd.grad(d2, x) = %s (6)" % show(d3))
    block.line("create_graph=True records the backward pass itself, so its result can be differentiated again;")
    block.line("backward(y, create_graph=True) does the same into x.grad (and PyTorch warns of a reference cycle).")
    block.tensor("d1", d1).tensor("d2", d2).tensor("d3", d3)
    return block


def computation_graph(device):
    """8. The graphs themselves."""
    block = Block("8. The computation graph, read from libtorch (grad_fn.next_functions): gradients flow along ->")
    w, x, a, b, y = make_graph(device)
    lesson = autograd_graph([("y", y)], [("w", w), ("x", x), ("a", a), ("b", b)])
    x = torch.tensor([2.], requires_grad=True, device=device)
    y = x ** 3
    (d1,) = torch.autograd.grad(y, x, create_graph=True)
    derivative = autograd_graph([("d1", d1)], [("x", x), ("y", y)])
    for caption, g, key in [(LESSON_GRAPH, lesson, "graph y"), (DERIVATIVE_GRAPH, derivative, "graph d1")]:
        block.line("%s: %d nodes, %d edges" % (caption, len(g["nodes"]), len(g["edges"])))
        for line in graph_lines(g):
            block.line("  " + line)
        block.value(key, g)
    block.line("AccumulateGrad (w) is reached from both AddBackward0 nodes: w's gradient is the sum of both paths;")
    block.line("None is an input that gets no gradient (the constant 1, the incoming gradient of d1's graph).")
    return block


def autograd_graph(outputs, named):
    """The graph behind `outputs` as src/nn/graph.rs walks it: breadth first from the outputs, each
    node's next_functions in order; a None in next_functions is an edge to None. Leaves are named
    through their AccumulateGrad's `variable`, other named tensors through their grad_fn."""
    leaves = [(t, n) for n, t in named if t.is_leaf]
    fns = [(t.grad_fn, n) for n, t in named if not t.is_leaf and t.grad_fn is not None]
    lookup = lambda pairs, obj: next((n for o, n in pairs if o is obj), None)
    nodes, edges, ops, leaf_nodes, queue = [], [], [], [], []

    def add_op(fn):
        for f, i in ops:  # identity, as libtorch's node pointers
            if f is fn:
                return i
        var = getattr(fn, "variable", None)
        tensor = lookup(leaves, var) if var is not None else lookup(fns, fn)
        nodes.append({"name": type(fn).__name__, "kind": "operation", "tensor": tensor})
        ops.append((fn, len(nodes) - 1))
        queue.append((len(nodes) - 1, fn))
        return len(nodes) - 1

    for name, t in outputs:
        nodes.append({"name": name, "kind": "tensor", "tensor": None})
        i = len(nodes) - 1
        if t.grad_fn is not None:
            edges.append((i, add_op(t.grad_fn)))
    while queue:
        i, fn = queue.pop(0)
        for nxt, _ in fn.next_functions:
            edges.append((i, None if nxt is None else add_op(nxt)))
        var = getattr(fn, "variable", None)
        if var is not None:
            j = next((k for v, k in leaf_nodes if v is var), None)
            if j is None:
                nodes.append({"name": lookup(leaves, var) or "leaf", "kind": "leaf", "tensor": None})
                j = len(nodes) - 1
                leaf_nodes.append((var, j))
            edges.append((i, j))

    labels = ["%s (%s)" % (n["name"], n["tensor"]) if n["tensor"] else n["name"] for n in nodes]
    counts = {label: labels.count(label) for label in labels}
    seen = {}
    for k, label in enumerate(labels):
        if counts[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[k] = "%s #%d" % (label, seen[label])
    return {
        "nodes": [{"label": l, "name": n["name"], "kind": n["kind"]} for l, n in zip(labels, nodes)],
        "edges": [[labels[i], None if j is None else labels[j]] for i, j in edges],
    }


def graph_lines(g):
    """One line per edge, `MulBackward0 -> AddBackward0 (a)` (as src/nn/graph.rs's Graph::lines)."""
    return ["%s -> %s" % (a, "None" if b is None else b) for a, b in g["edges"]]


def add_autograd_parser(sub):
    p = sub.add_parser("autograd_demo", help="the lesson's autograd section, step by step")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.add_argument("--graph", metavar="-", type=graph_text_only,
                   help="- prints the computation graphs as text only (the Rust program also draws them)")
    p.set_defaults(run=autograd_demo)


def graph_text_only(s):
    """--graph: only `-` here; drawing to FILE.svg|png is the Rust program's (layout-rs, resvg)."""
    if s != "-":
        raise argparse.ArgumentTypeError("reference.py prints the graph as text only: use --graph - "
                                         "(autograd_demo --graph FILE.svg|.png draws it)")
    return s


# ---------------------------------------------------------------- section 3: a fully connected layer
class SimpleFC(nn.Module):
    def __init__(self, input_size, output_size):
        super(SimpleFC, self).__init__()
        self.fc = nn.Linear(input_size, output_size)

    def forward(self, x):
        return self.fc(x)


def hand_gradients(x, output, target):
    """dL/dW = 2/n (out - t)^T x, dL/db = 2/n sum_batch (out - t), n = output.numel()."""
    scale = 2.0 / output.numel()
    diff = (output - target).detach()
    return diff.t().matmul(x) * scale, diff.sum(0) * scale


def max_abs_diff(a, b):
    return (a - b).abs().max().double().item()


def fc_demo(args):
    """The blocks in order, each made by the function of that name (as in
    src/programs/fc_demo.rs)."""
    device = parse_device(args.device)
    report = Report("fc_demo", device, {"seed": args.seed, "lr": args.lr, "steps": args.steps}, args.json)
    lesson = fc_lesson(args.seed, args.lr, device)
    report.push(model_init(lesson, args.seed))
    model, input_data, target_output, criterion, optimizer = lesson
    output = model(input_data)
    loss = criterion(output, target_output)
    report.push(forward_pass(lesson, output, loss))
    loss.backward()
    report.push(backward_pass(lesson, output))
    report.push(sgd_step(lesson, args.lr))
    if args.steps > 1:
        report.push(training(lesson, args.steps, args.allow_nan, report))
    report.emit(args.json)


FC_D = 6


def show_fc(t):
    return fmt_tensor(t, FC_D)


def fc_lesson(seed, lr, device):
    """The lesson's program up to its first step (Rust's Lesson): model, data, loss, optimiser."""
    torch.manual_seed(seed)
    model = SimpleFC(input_size=3, output_size=2).to(device)
    input_data = torch.tensor([[1.0, 2.0, 3.0]], device=device)
    target_output = torch.tensor([[4.0, 5.0]], device=device)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return model, input_data, target_output, criterion, optimizer


def params_and_grads(lesson):
    """fc.weight, fc.bias and their .grad (Rust reads them the same way in each block)."""
    weight, bias = lesson[0].fc.weight, lesson[0].fc.bias
    return weight, bias, weight.grad, bias.grad


def model_init(lesson, seed):
    """1. The model, initialised as PyTorch does."""
    weight, bias = lesson[0].fc.weight, lesson[0].fc.bias
    block = Block("1. The model: SimpleFC(3, 2) = nn.Linear(3, 2), initialised as PyTorch does (seed %d)" % seed)
    block.line("fc.weight = %s" % show_fc(weight)).line("fc.bias = %s" % show_fc(bias))
    block.tensor("weight", weight).tensor("bias", bias)
    return block


def forward_pass(lesson, output, loss):
    """2. Forward: the output and the loss."""
    _, input_data, target_output, _, _ = lesson
    block = Block("2. Forward: output = model(input_data), loss = nn.MSELoss()(output, target_output)")
    block.line("input_data = %s, target_output = %s" % (show_fc(input_data), show_fc(target_output)))
    block.line("output = x W^T + b = %s" % show_fc(output))
    block.line("loss = mean((output - target)^2) = %s" % show_fc(loss))
    block.tensor("output", output).tensor("loss", loss)
    return block


def backward_pass(lesson, output):
    """3. loss.backward(): the gradients by autograd, and derived by hand."""
    _, input_data, target_output, _, _ = lesson
    weight, bias, grad_w, grad_b = params_and_grads(lesson)
    hand_w, hand_b = hand_gradients(input_data, output, target_output)
    block = Block("3. loss.backward(): the gradients by autograd, and derived by hand")
    block.line("fc.weight.grad = %s" % show_fc(grad_w))
    block.line("by hand, 2/n (out - t)^T x = %s" % show_fc(hand_w))
    block.line("fc.bias.grad = %s" % show_fc(grad_b))
    block.line("by hand, 2/n (out - t) = %s" % show_fc(hand_b))
    dw, db = max_abs_diff(grad_w, hand_w), max_abs_diff(grad_b, hand_b)
    block.line("largest difference autograd - hand: weight %s, bias %s" % (fmt_value(dw, 10), fmt_value(db, 10)))
    block.line("backward() only fills .grad: the parameters have not changed yet.")
    block.tensor("weight.grad", grad_w).tensor("bias.grad", grad_b)
    block.tensor("weight.grad by hand", hand_w).tensor("bias.grad by hand", hand_b)
    return block


def sgd_step(lesson, lr):
    """4. optimizer.step(): the parameters before and after."""
    optimizer = lesson[4]
    weight, bias, grad_w, grad_b = params_and_grads(lesson)
    old_w, old_b = weight.detach().clone(), bias.detach().clone()
    optimizer.step()
    expected_w = old_w - grad_w * lr
    expected_b = old_b - grad_b * lr
    block = Block("4. optimizer.step(): param <- param - lr * param.grad, lr = %r" % lr)
    block.line("fc.weight before = %s" % show_fc(old_w)).line("fc.weight after  = %s" % show_fc(weight))
    block.line("fc.bias before = %s" % show_fc(old_b)).line("fc.bias after  = %s" % show_fc(bias))
    exact = torch.equal(weight.detach(), expected_w) and torch.equal(bias.detach(), expected_b)
    gap = max(max_abs_diff(weight.detach(), expected_w), max_abs_diff(bias.detach(), expected_b))
    # step() computes param + (-lr) * grad with one rounding (a fused multiply-add);
    # the expression rounds twice, so the two may differ in the last bit.
    scale = max(old_w.abs().max().double().item(), old_b.abs().max().double().item())
    close = gap <= 1e-6 * (1.0 + scale)
    block.line("new == old - lr * grad: bit for bit %s, to within float rounding %s (largest difference %s)"
               % (exact, close, fmt_value(gap, 10)))
    block.tensor("weight after", weight).tensor("bias after", bias)
    block.value("step exact", exact).value("step close", close)
    return block


def training(lesson, steps, allow_nan, report):
    """5. Training on, for --steps above 1: the loss per step, printed as it comes."""
    model, input_data, target_output, criterion, optimizer = lesson
    weight, bias = model.fc.weight, model.fc.bias
    block = Block("5. Training on: steps 2 to %d" % steps)
    losses = []
    for step in range(2, steps + 1):
        optimizer.zero_grad()
        loss = criterion(model(input_data), target_output)
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()) and not allow_nan:
            diverged(loss.item(), "step %d" % step)
        report.stream_line(block, "step %d, loss %s" % (step, fmt_value(loss.item(), FC_D)))
        if report.keeps_values():
            losses.append(number(loss.item()))
    block.value("losses", losses).tensor("weight", weight).tensor("bias", bias)
    return block


def add_fc_parser(sub):
    p = sub.add_parser("fc_demo", help="the lesson's fully connected layer, MSE loss and one SGD step")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (torch.manual_seed)")
    p.add_argument("--lr", type=positive_finite, default=0.01, help="SGD learning rate")
    p.add_argument("--steps", type=positive_int, default=1, help="optimiser steps in all")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=fc_demo)


# ---------------------------------------------------------------- sections 1 and 2: activations, cross-entropy
def value_and_grad(f, x):
    """f(x) and d sum(f(x)) / dx by autograd, on a fresh leaf copy of x."""
    x = x.detach().requires_grad_()
    y = f(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


def train_linear_net(seed, epochs, lr, samples, logits, device):
    """The lesson's training loop (as in softmax()), returning the net, data and last loss."""
    torch.manual_seed(seed)
    X = torch.rand((samples, 2, 2)).to(device)
    target = torch.randint(0, 2, (samples,)).to(device)
    net = LinearNet(logits=logits).to(device)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(epochs):
        y_hat = net(X)
        l = loss(y_hat, target).sum()
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (net(X).argmax(1) == target).float().mean().item()
    return l.item(), accuracy


# The walkthrough's blocks in order, each made by the function of that name (as in
# src/programs/activations.rs).
def activations(args):
    device = parse_device(args.device)
    report = Report("activations", device, {"points": args.points, "seed": args.seed, "epochs": args.epochs}, args.json)
    curves = activation_curves(args.points, device)
    report.push(activation_table(curves))
    report.push(activation_properties(curves))
    report.push(dead_relu(device))
    report.push(softmax_stability(args.seed, device))
    scores = draw_scores(device)
    report.push(cross_entropy_three_ways(scores))
    report.push(binary_cross_entropy_fused(device))
    report.push(double_softmax(scores, args.epochs, device))
    report.emit(args.json)


def scalar(t):
    return t.detach().double().item()


def f4(v):
    return fmt_value(v, 4)


def activation_curves(points, device):
    """Sigmoid, tanh and ReLU on the grid, with their autograd gradients (Rust's Curves)."""
    x = torch.linspace(-6, 6, points, device=device)
    sig, sig_g = value_and_grad(torch.sigmoid, x)
    th, th_g = value_and_grad(torch.tanh, x)
    re, re_g = value_and_grad(torch.relu, x)
    return x, sig, sig_g, th, th_g, re, re_g


def curve_columns(curves):
    return [t.double().cpu().tolist() for t in curves]


def activation_table(curves):
    """1. The table."""
    x, sig, sig_g, th, th_g, re, re_g = curves
    block = Block("1. Sigmoid, tanh and ReLU on %d points from -6 to 6, with autograd gradients" % len(x))
    block.line("%8s %9s %9s %9s %9s %9s %9s" % ("x", "sigmoid", "d/dx", "tanh", "d/dx", "relu", "d/dx"))
    columns = curve_columns(curves)
    for row in zip(*columns):
        block.line("%8s %9s %9s %9s %9s %9s %9s" % tuple(f4(v) for v in row))
    for name, t in [("x", x), ("sigmoid", sig), ("sigmoid'", sig_g), ("tanh", th), ("tanh'", th_g), ("relu", re), ("relu'", re_g)]:
        block.tensor(name, t)
    return block


def activation_properties(curves):
    """2. The properties, read off the numbers."""
    block = Block("2. What the numbers show")
    x, sig, sig_g, th, th_g, re, re_g = curves
    columns = curve_columns(curves)
    xs = columns[0]
    at_max = lambda g: xs[g.argmax().item()]
    sg = columns[2]
    block.line("sigmoid: values in [%s, %s], inside (0, 1); gradient at most %s at x = %s; at the ends %s and %s: it vanishes"
               % (fmt_value(scalar(sig.min()), 6), fmt_value(scalar(sig.max()), 6), f4(scalar(sig_g.max())),
                  f4(at_max(sig_g)), fmt_value(sg[0], 6), fmt_value(sg[-1], 6)))
    odd_gap = scalar((torch.tanh(x.neg()) + th).abs().max())
    tanh0 = scalar(torch.tanh(torch.zeros(1, device=x.device)))
    block.line("tanh: values in [%s, %s], inside (-1, 1); zero-centred: tanh(0) = %s, largest |tanh(-x) + tanh(x)| = %s; "
               "gradient at most %s at x = %s"
               % (fmt_value(scalar(th.min()), 6), fmt_value(scalar(th.max()), 6), f4(tanh0), fmt_value(odd_gap, 10),
                  f4(scalar(th_g.max())), f4(at_max(th_g))))
    ones_right = bool(re_g.masked_select(x.gt(0.0)).eq(1.0).all().item())
    zeros_left = bool(re_g.masked_select(x.lt(0.0)).eq(0.0).all().item())
    block.line("relu: gradient 1 for every x > 0: %s, 0 for every x < 0: %s (at x = 0 PyTorch takes 0)" % (ones_right, zeros_left))
    (block.number("sigmoid min", scalar(sig.min())).number("sigmoid max", scalar(sig.max()))
     .number("sigmoid' max", scalar(sig_g.max())).number("sigmoid' argmax x", at_max(sig_g))
     .number("tanh min", scalar(th.min())).number("tanh max", scalar(th.max())).number("tanh(0)", tanh0)
     .number("tanh odd gap", odd_gap).number("tanh' max", scalar(th_g.max()))
     .value("relu' is 1 for x > 0", ones_right).value("relu' is 0 for x < 0", zeros_left))
    return block


def dead_relu(device):
    """3. A dead ReLU unit."""
    block = Block("3. A dead ReLU unit: all its inputs negative, no gradient")
    batch = torch.tensor([1.0, 2.0, 0.5, 1.5, 2.0, 0.1, 1.2, 0.3], device=device).view(4, 2)

    def unit(w, b):
        w = torch.tensor(w, device=device).view(1, 2).requires_grad_()
        b = torch.tensor([b], device=device).requires_grad_()
        z = F.linear(batch, w, b)
        out = torch.relu(z)
        out.sum().backward()
        return z.detach(), out.detach(), w.grad, b.grad

    z, out, wg, bg = unit([-0.5, -1.0], -0.2)
    block.line("x = %s (4 positive inputs), w = [[-0.5000, -1.0000]], b = [-0.2000]" % fmt_tensor(batch, 4))
    block.line("z = x w^T + b = %s (all negative)" % fmt_tensor(z, 4))
    block.line("relu(z) = %s" % fmt_tensor(out, 4))
    block.line("relu(z).sum().backward(): w.grad = %s, b.grad = %s" % (fmt_tensor(wg, 4), fmt_tensor(bg, 4)))
    block.line("no gradient reaches w or b, so SGD never changes them: the unit is dead")
    block.tensor("dead z", z).tensor("dead w.grad", wg).tensor("dead b.grad", bg)
    _, _, wg, bg = unit([0.5, 1.0], -0.2)
    block.line("the same unit with w = [[0.5000, 1.0000]]: w.grad = %s, b.grad = %s" % (fmt_tensor(wg, 4), fmt_tensor(bg, 4)))
    block.tensor("live w.grad", wg).tensor("live b.grad", bg)
    return block


def softmax_stability(seed, device):
    """4. Softmax."""
    block = Block("4. Softmax: a probability distribution over the scores")
    torch.manual_seed(seed)
    z = (torch.randn(4, 5) * 3).to(device)
    p = torch.softmax(z, 1)
    sums = p.sum(1)
    sum_gap = scalar((sums - 1.0).abs().max())
    block.line("z = randn(4, 5) * 3 (seed %d); p = softmax(z, dim=1):" % seed)
    for row in range(4):
        block.line("  %s" % fmt_tensor(p[row], 4))
    block.line("row sums = %s; largest |sum - 1| = %s" % (fmt_tensor(sums, 6), fmt_value(sum_gap, 10)))
    shifted = torch.softmax(z + 100.0, 1)
    shift_gap = scalar((shifted - p).abs().max())
    block.line("softmax(z + 100) vs softmax(z): largest difference %s (a constant added to every score changes nothing)"
               % fmt_value(shift_gap, 10))
    large = torch.tensor([1000.0, 1001.0, 1002.0], device=device)
    stable = torch.softmax(large, 0)
    naive = large.exp() / large.exp().sum()
    block.line("softmax([1000, 1001, 1002]) = %s" % fmt_tensor(stable, 4))
    block.line("naive exp(s) / sum(exp(s)) = %s: exp(1000) overflows to inf, inf / inf is NaN" % fmt_tensor(naive, 4))
    block.line("softmax subtracts the largest score first: exp(s - max) / sum(exp(s - max))")
    (block.tensor("p", p).tensor("row sums", sums).number("largest |sum - 1|", sum_gap)
     .number("shift difference", shift_gap).tensor("softmax large", stable).tensor("naive large", naive))
    return block


def draw_scores(device):
    """The random scores and labels that blocks 5 and 7 share, drawn after block 4's."""
    logits = torch.randn(4, 3).to(device)
    labels = torch.tensor([0, 2, 1, 2], device=device)
    return logits, labels, F.one_hot(labels, 3).float()


def cross_entropy_three_ways(scores):
    """5. Multi-class cross-entropy, three ways."""
    block = Block("5. Cross-entropy for several classes, three ways")
    logits, labels, one_hot = scores
    probs = torch.softmax(logits, 1)
    by_hand = -(one_hot * probs.log()).sum(1).mean()
    nll = F.nll_loss(F.log_softmax(logits, 1), labels)
    ce = F.cross_entropy(logits, labels)
    values = [scalar(by_hand), scalar(nll), scalar(ce)]
    spread = max(values) - min(values)
    block.line("scores z = randn(4, 3), labels y = [0, 2, 1, 2]")
    block.line("-sum_i y_i log p_i with one-hot y, by hand: %s" % fmt_value(values[0], 8))
    block.line("nll_loss(log_softmax(z), y):           %s" % fmt_value(values[1], 8))
    block.line("cross_entropy(z, y):                   %s" % fmt_value(values[2], 8))
    block.line("largest difference: %s" % fmt_value(spread, 10))
    block.tensor("z", logits).number("by hand", values[0]).number("nll_loss", values[1]).number("cross_entropy", values[2])
    return block


def binary_cross_entropy_fused(device):
    """6. Binary cross-entropy."""
    block = Block("6. Binary cross-entropy: sigmoid + BCE, and the fused form")
    zb = torch.tensor([0.5, -1.2, 2.0, -0.3], device=device)
    yb = torch.tensor([1.0, 0.0, 1.0, 1.0], device=device)
    bce = lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y)
    bce_logits = lambda z, y: F.binary_cross_entropy_with_logits(z, y)
    unfused, fused = scalar(bce(zb, yb)), scalar(bce_logits(zb, yb))
    block.line("z = [0.5, -1.2, 2.0, -0.3], y = [1, 0, 1, 1]")
    block.line("binary_cross_entropy(sigmoid(z), y):  %s" % fmt_value(unfused, 8))
    block.line("binary_cross_entropy_with_logits(z, y): %s" % fmt_value(fused, 8))
    block.line("difference: %s" % fmt_value(abs(unfused - fused), 10))
    zl = torch.tensor([30.0, -40.0, 200.0], device=device)
    yl = torch.tensor([0.0, 1.0, 0.0], device=device)
    s = torch.sigmoid(zl)
    by_hand = -(yl * torch.log(s) + (1.0 - yl) * torch.log(1.0 - s)).mean()
    hand_l, unfused_l, fused_l = scalar(by_hand), scalar(bce(zl, yl)), scalar(bce_logits(zl, yl))
    block.line("large logits z = [30, -40, 200] with wrong labels y = [0, 1, 0]; the true loss is (30 + 40 + 200) / 3 = 90")
    block.line("by hand, -(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))): %s (sigmoid(30) is 1 in float32, log(0) = -inf)" % f4(hand_l))
    block.line("binary_cross_entropy(sigmoid(z), y): %s (PyTorch clamps log at -100: finite, but wrong)" % f4(unfused_l))
    block.line("binary_cross_entropy_with_logits(z, y): %s (fused: right)" % f4(fused_l))
    (block.number("bce", unfused).number("bce with logits", fused).number("large by hand", hand_l)
     .number("large bce", unfused_l).number("large bce with logits", fused_l))
    return block


def double_softmax(scores, epochs, device):
    """7. The lesson's double softmax."""
    block = Block("7. The lesson's double softmax: CrossEntropyLoss on softmax outputs")
    logits, labels, one_hot = scores
    K = 3.0
    bound = math.log(math.e + K - 1.0) - 1.0
    best = F.cross_entropy(one_hot, labels)
    block.line("on probabilities p in [0, 1] the loss is at least log(e + K - 1) - 1 = %s for K = 3 classes" % fmt_value(bound, 6))
    block.line("even a perfect one-hot p only reaches %s: the loss can never be 0" % fmt_value(scalar(best), 6))
    zl = logits.detach().requires_grad_()
    (g_logits,) = torch.autograd.grad(F.cross_entropy(zl, labels), zl)
    (g_double,) = torch.autograd.grad(F.cross_entropy(torch.softmax(zl, 1), labels), zl)
    norm = lambda g: scalar(g.pow(2).sum().sqrt())
    n_logits, n_double = norm(g_logits), norm(g_double)
    block.line("gradient norm w.r.t. the scores: %s on the logits, %s through the extra softmax (%s times smaller)"
               % (fmt_value(n_logits, 6), fmt_value(n_double, 6), fmt_value(n_logits / n_double, 2)))
    block.line("training the lesson's LinearNet for %d epochs (seed 7, lr 0.1, 7 samples):" % epochs)
    for logits_mode, what in [(False, "the lesson, softmax then CrossEntropyLoss"), (True, "--logits, CrossEntropyLoss on the logits")]:
        last, accuracy = train_linear_net(7, epochs, 0.1, 7, logits_mode, device)
        block.line("  %s: final loss %s, accuracy %s" % (what, f4(last), f4(accuracy)))
        key = "logits" if logits_mode else "double softmax"
        block.number(key + " final loss", last).number(key + " accuracy", accuracy)
    (block.number("lower bound", bound).number("one-hot loss", scalar(best))
     .number("grad norm logits", n_logits).number("grad norm double softmax", n_double))
    return block


def add_activations_parser(sub):
    p = sub.add_parser("activations", help="the lesson's activations and cross-entropy, with numbers")
    p.add_argument("--points", type=int_in_range(2, 100000), default=13, help="grid points from -6 to 6")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the random scores")
    p.add_argument("--epochs", type=positive_int, default=70, help="epochs for the double-softmax comparison")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=activations)


# ---------------------------------------------------------------- real data: softmax for 10 classes, sigmoid for 2
DATASETS = {  # name: (file, features, classes)
    "digits": ("digits.csv", 64, 10),
    "breast-cancer": ("breast_cancer.csv", 30, 2),
}


MAX_DATA_BYTES = 64 * 1024 * 1024
HOW_TO_MAKE = "run scripts/setup.sh, or .venv/bin/python scripts/make_datasets.py"


def read_regular(path, max_bytes, what):
    """A whole input file that must be a regular file of at most max_bytes (as src/io/files.rs
    read_regular): a FIFO, a device, a folder or a larger file is refused before reading."""
    import stat
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


def load_dataset(data_dir, name):
    """The CSV that scripts/make_datasets.py writes: a header, then features and the label; every
    field checked as src/io/dataset.rs checks it, with the same messages."""
    import csv
    import io
    file, features, classes = DATASETS[name]
    path = os.path.join(data_dir, file)
    if not os.path.lexists(path):
        sys.exit(f"error: {path} not found: {HOW_TO_MAKE}")
    data = read_regular(path, MAX_DATA_BYTES, "data file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        sys.exit(f"error: {path}: not valid UTF-8 text")
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not rows:
        sys.exit(f"error: {path} is empty: {HOW_TO_MAKE}")
    if len(rows[0]) != features + 1:
        sys.exit(f"error: {path}: the header has {len(rows[0])} columns, expected {features + 1} "
                 f"({features} features and the target)")
    values, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != features + 1:
            sys.exit(f"error: {path} line {line}: {len(row)} fields, expected {features + 1}")
        for col, field in enumerate(row[:features], start=1):
            try:
                if "_" in field or not field.strip().isascii():
                    raise ValueError(field)
                v = float(field)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                sys.exit(f"error: {path} line {line}, column {col}: '{field}' is not a finite number")
            values.append(v)
        label = row[features]
        t = label.strip()
        digits = t[1:] if t[:1] in "+-" else t
        if not digits or not all("0" <= c <= "9" for c in digits) or not -2**63 <= int(t) < 2**63:
            sys.exit(f"error: {path} line {line}: label '{label}' is not an integer")
        if not 0 <= int(t) < classes:
            sys.exit(f"error: {path} line {line}: label {int(t)} is out of range 0..{classes - 1}")
        labels.append(int(t))
    if not labels:
        sys.exit(f"error: {path} has no samples: {HOW_TO_MAKE}")
    X = torch.tensor(values, dtype=torch.float64).view(len(labels), features).float()
    y = torch.tensor(labels, dtype=torch.int64)
    return X, y, features, classes


def stratified_split(y, classes, test_fraction):
    """For each class in order, a randperm of its samples; the first round-half-up(n * f) test."""
    train, test = [], []
    for c in range(classes):
        idx = (y == c).nonzero().flatten()
        n = idx.shape[0]
        perm = torch.randperm(n)
        n_test = int(math.floor(n * test_fraction + 0.5))
        test.append(idx.index_select(0, perm[:n_test]))
        train.append(idx.index_select(0, perm[n_test:]))
    train, test = torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values
    if train.numel() == 0 or test.numel() == 0:
        # How the program was called: a usage error (status 2), as src/io/dataset.rs says.
        print(f"error: --test-fraction {test_fraction!r} leaves an empty "
              f"{'training' if train.numel() == 0 else 'test'} set", file=sys.stderr)
        sys.exit(2)
    return train, test


# The training options, with their defaults: None means not given (refused with --evaluate).
CLASSIFY_TRAINING = {"epochs": ("--epochs <EPOCHS>", 30), "batch_size": ("--batch-size <BATCH_SIZE>", 32),
                     "lr": ("--lr <LR>", 0.1), "momentum": ("--momentum <MOMENTUM>", 0.0),
                     "weight_decay": ("--weight-decay <WEIGHT_DECAY>", 0.0), "save": ("--save <FILE>", None),
                     "allow_nan": ("--allow-nan", False)}


def classify_usage(args):
    """What clap checks in src/programs/classify.rs's Config, in clap's order: --evaluate conflicts
    with every training option, then --evaluate and --plain-checkpoint need --load. Usage errors:
    one line, exit 2."""
    def usage(message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)

    for name, (shown, default) in CLASSIFY_TRAINING.items():
        if args.evaluate and getattr(args, name) not in (None, False):
            usage(f"the argument '--evaluate' cannot be used with '{shown}'")
    if (args.evaluate or args.plain_checkpoint) and not args.load:
        usage("the following required arguments were not provided: --load <FILE>")
    for name, (shown, default) in CLASSIFY_TRAINING.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def classify(args):
    """The program in the order of src/programs/classify.rs run, function for function."""
    classify_usage(args)
    device = parse_device(args.device)
    checkpoint = read_checkpoint(args.load, device) if args.load else None
    dataset, seed, test_fraction = split_options(args, checkpoint)
    binary = dataset == "breast-cancer"
    X, y, features, classes = load_dataset(args.data_dir, dataset)
    split = make_split(args, X, y, classes, (dataset, seed, test_fraction), checkpoint, device)

    # Binary classification -> sigmoid; multi-class -> softmax (the lesson's rule).
    outputs = 1 if binary else classes
    model = nn.Linear(features, outputs).to(device)

    def say(line):
        if args.json != "-":
            print(line, flush=True)

    describe(X, features, classes, split, binary, say)
    checkpoint_json = None
    if checkpoint is not None:
        checkpoint_json = {"dtype": checkpoint["dtype"], "metadata": checkpoint["run"] is not None}
        adopt_checkpoint(args, model, split, checkpoint, say)
    initial = named_json(model)
    epochs = [] if args.evaluate else train(args, model, split, binary, say)
    evaluation = evaluate(model, split, classes, binary, say)

    if args.save:
        save_checkpoint(model, split["run"], args.save)
    if args.json:
        config = {"dataset": dataset, "test_fraction": test_fraction, "seed": seed,
                  "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "momentum": args.momentum, "weight_decay": args.weight_decay, "evaluate": args.evaluate}
        write_json(args.json, trace("classify", device, config, {
            "dataset": {"samples": X.shape[0], "features": features, "classes": classes, "train": split["n_train"],
                        "test": evaluation["test"], "test_indices": split["test_idx"].tolist()},
            "checkpoint": checkpoint_json,
            "initial_parameters": initial,
            "epochs": epochs,
            "final_parameters": named_json(model),
            "confusion_matrix": evaluation["confusion"],
            "precision": evaluation["precision"],
            "recall": evaluation["recall"],
            "support": evaluation["support"],
            "test_accuracy": evaluation["test_accuracy"],
        }))


def split_options(args, checkpoint):
    """The data set, seed and test fraction of the run: a checkpoint's (which the options given
    must agree with), or the options', or the defaults."""
    saved = checkpoint["run"] if checkpoint else None
    if saved is not None:
        def agree(option, given, value, show, what):
            if given is not None and given != value:
                print(f"error: {option} {show(given)} contradicts the checkpoint {args.load}, trained {what} "
                      f"{show(value)}: leave {option} out (the checkpoint sets it)", file=sys.stderr)
                sys.exit(2)
            return value
        dataset = agree("--dataset", args.dataset, saved["dataset"], str, "on")
        seed = agree("--seed", args.seed, saved["seed"], str, "with seed")
        test_fraction = agree("--test-fraction", args.test_fraction, saved["test_fraction"], repr, "with test fraction")
        return dataset, seed, test_fraction
    if checkpoint is not None and not args.plain_checkpoint:
        sys.exit(f"error: checkpoint {args.load} carries no training metadata (data set, split, standardisation): "
                 "it is a plain state_dict, from an older classify or PyTorch's save_file; --plain-checkpoint uses "
                 "it with the split of --dataset, --seed and --test-fraction")
    dataset = args.dataset if args.dataset is not None else "digits"
    seed = args.seed if args.seed is not None else 0
    test_fraction = args.test_fraction if args.test_fraction is not None else 0.25
    return dataset, seed, test_fraction


def make_split(args, X, y, classes, options, checkpoint, device):
    """The stratified split, standardised with the training part's mean and std, on the device
    (Rust's Split::new)."""
    dataset, seed, test_fraction = options
    saved = checkpoint["run"] if checkpoint else None
    torch.manual_seed(seed)
    train_idx, test_idx = stratified_split(y, classes, test_fraction)
    n_train = train_idx.shape[0]
    if not args.evaluate and args.batch_size > n_train:
        print(f"error: --batch-size {args.batch_size} is larger than the training set ({n_train} samples): "
              f"use at most {n_train}", file=sys.stderr)
        sys.exit(2)
    X_train_raw = X.index_select(0, train_idx)
    mean = X_train_raw.mean(0)
    std = X_train_raw.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # constant features stay as they are
    run = {"dataset": dataset, "seed": seed, "test_fraction": test_fraction, "mean": mean, "std": std}
    if saved is not None and not (same_bits(mean, saved["mean"]) and same_bits(std, saved["std"])):
        sys.exit(f"error: checkpoint {args.load}: its standardisation (scaler.mean, scaler.std) is not that of the "
                 f"training split of {os.path.join(args.data_dir, DATASETS[dataset][0])} (seed {seed}, test fraction "
                 f"{test_fraction!r}): the data or the checkpoint is not what it was trained on")
    return {"n_train": n_train, "test_idx": test_idx, "run": run,
            "x_train": ((X_train_raw - mean) / std).to(device),
            "x_test": ((X.index_select(0, test_idx) - mean) / std).to(device),
            "y_train": y.index_select(0, train_idx).to(device),
            "y_test": y.index_select(0, test_idx).to(device)}


def loss_fn(out, target, binary):
    """BCEWithLogitsLoss on the single logit, or CrossEntropyLoss on the logits."""
    if binary:
        return F.binary_cross_entropy_with_logits(out, target.float().unsqueeze(1))
    return F.cross_entropy(out, target)


def predict(model, inputs, binary):
    with torch.no_grad():
        out = model(inputs)
        return (torch.sigmoid(out.squeeze(1)) > 0.5).long() if binary else out.argmax(1)


def accuracy(model, inputs, target, binary):
    return (predict(model, inputs, binary) == target).sum().item() / target.shape[0]


def describe(X, features, classes, split, binary, say):
    """The first two lines: the data set and its split, the model and its loss."""
    run = split["run"]
    say("dataset %s: %d samples, %d features, %d classes; train %d, test %d (stratified, test fraction %r, seed %d)"
        % (run["dataset"], X.shape[0], features, classes, split["n_train"], split["test_idx"].shape[0],
           run["test_fraction"], run["seed"]))
    if binary:
        say("model: Linear(%d, 1) -> sigmoid; loss: BCEWithLogitsLoss (sigmoid and binary cross-entropy fused)" % features)
    else:
        say("model: Linear(%d, %d) -> softmax; loss: CrossEntropyLoss on the logits" % (features, classes))


def adopt_checkpoint(args, model, split, checkpoint, say):
    """The loaded layer, checked against the data set, and the line that says what is done with it."""
    dataset, seed, test_fraction = (split["run"][k] for k in ("dataset", "seed", "test_fraction"))
    outputs, features = model.out_features, model.in_features
    shape = list(checkpoint["state"]["weight"].shape)
    if shape != [outputs, features]:
        sys.exit(f"error: checkpoint {args.load}: weight has shape {shape}, expected [{outputs}, {features}] "
                 f"for Linear({features}, {outputs}) on {dataset}")
    # model.load_state_dict casts each tensor to the parameter's float32 (param.copy_(input)).
    model.load_state_dict(checkpoint["state"])
    dtype = checkpoint["dtype"]
    dtype = dtype if dtype == "float32" else f"{dtype}, cast to float32"
    what = "evaluating, no training" if args.evaluate else "training on from there"
    if checkpoint["run"] is not None:
        whose = ("the split and standardisation are the training run's, from the checkpoint "
                 f"({dataset}, seed {seed}, test fraction {test_fraction!r})")
    else:
        whose = ("the checkpoint has no metadata: the split and standardisation are this run's, "
                 "not necessarily the training run's")
    say("loaded %s (%s): %s; %s" % (args.load, dtype, what, whose))


def train(args, model, split, binary, say):
    """Mini-batch SGD for --epochs, a line per epoch: the loss and both accuracies."""
    n_train, X_train, y_train = split["n_train"], split["x_train"], split["y_train"]
    device = X_train.device
    say("optimizer: SGD lr %r, momentum %r, weight decay %r; batch size %d, %d epochs"
        % (args.lr, args.momentum, args.weight_decay, args.batch_size, args.epochs))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    epochs = []
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(n_train).to(device)
        running = torch.zeros((), device=device)
        for start in range(0, n_train, args.batch_size):
            nb = min(args.batch_size, n_train - start)
            idx = perm[start:start + nb]
            xb, yb = X_train.index_select(0, idx), y_train.index_select(0, idx)
            l = loss_fn(model(xb), yb, binary)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            running += l.detach() * float(nb)
        epoch_loss = running.item() / n_train
        if not math.isfinite(epoch_loss) and not args.allow_nan:
            diverged(epoch_loss, "epoch %d" % epoch)
        stats = {"loss": number(epoch_loss), "train_accuracy": accuracy(model, X_train, y_train, binary),
                 "test_accuracy": accuracy(model, split["x_test"], split["y_test"], binary)}
        say("epoch %3d  loss %s  train acc %s  test acc %s" % (epoch, fmt_value(epoch_loss, 6),
            fmt_value(stats["train_accuracy"], 4), fmt_value(stats["test_accuracy"], 4)))
        epochs.append(stats)
    return epochs


def evaluate(model, split, classes, binary, say):
    """The confusion matrix and per-class precision and recall on the test set, printed."""
    predicted = predict(model, split["x_test"], binary).cpu().tolist()
    truth = split["y_test"].cpu().tolist()
    confusion = [[0] * classes for _ in range(classes)]
    for t, p in zip(truth, predicted):
        confusion[t][p] += 1
    say("confusion matrix (test set; rows: true class, columns: predicted class):")
    say("      " + "".join("%5d" % c for c in range(classes)))
    for c, row in enumerate(confusion):
        say("%5d " % c + "".join("%5d" % v for v in row))
    precision, recall, support = precision_recall(confusion, say)
    correct = sum(confusion[c][c] for c in range(classes))
    test_accuracy = correct / len(truth)
    say("test accuracy %s (%d/%d)" % (fmt_value(test_accuracy, 4), correct, len(truth)))
    return {"confusion": confusion, "precision": precision, "recall": recall, "support": support,
            "test": len(truth), "test_accuracy": test_accuracy}


def precision_recall(confusion, say):
    """Per class, from the confusion matrix: precision, recall and support, a line each."""
    classes = len(confusion)
    say("class  precision  recall  support")
    precision, recall, support = [], [], []
    for c in range(classes):
        tp = confusion[c][c]
        predicted_c = sum(confusion[t][c] for t in range(classes))
        actual_c = sum(confusion[c])
        p = tp / predicted_c if predicted_c > 0 else 0.0
        r = tp / actual_c if actual_c > 0 else 0.0
        say("%5d  %9s  %6s  %7d" % (c, fmt_value(p, 4), fmt_value(r, 4), actual_c))
        precision.append(p)
        recall.append(r)
        support.append(actual_c)
    return precision, recall, support


# Checkpoints: nn.Linear's state_dict in safetensors, plus the training run in the metadata, as
# src/io/checkpoint.rs documents (format "classify 1"). load_state_dict(load_file(path)) still works:
# the metadata is not a tensor. In PyTorch: safe_open(path, "pt").metadata()["scaler.mean"].
CHECKPOINT_FORMAT = "classify 1"
CHECKPOINT_KEYS = ["checkpoint", "dataset", "features", "classes", "seed", "test_fraction", "scaler.mean", "scaler.std"]
LOADABLE = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32", torch.float64: "float64"}
JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"


def f32_list(t):
    """A float32 tensor as a JSON list: each value widened exactly to a float, in repr."""
    return json.dumps(t.double().tolist())


def parse_f32_list(text):
    """A JSON list of numbers, each exactly a finite float32, as a float32 tensor; else None."""
    import re
    import struct

    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        return None
    inner = inner[1:-1].strip()
    values = []
    for item in (inner.split(",") if inner else []):
        item = item.strip()
        if not re.fullmatch(JSON_NUMBER, item):
            return None
        try:
            v = float(item)
            exact = math.isfinite(v) and struct.unpack("<f", struct.pack("<f", v))[0] == v
        except OverflowError:
            exact = False
        if not exact:
            return None
        values.append(v)
    return torch.tensor(values, dtype=torch.float64).float()


def same_bits(a, b):
    return a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def run_metadata(run):
    _, features, classes = DATASETS[run["dataset"]]
    return {"format": "pt", "checkpoint": CHECKPOINT_FORMAT, "dataset": run["dataset"], "features": str(features),
            "classes": str(classes), "seed": str(run["seed"]), "test_fraction": repr(run["test_fraction"]),
            "scaler.mean": f32_list(run["mean"]), "scaler.std": f32_list(run["std"])}


def run_from_metadata(meta, path):
    """The training run in a checkpoint's metadata (None when it has none), as src/io/checkpoint.rs."""
    import re

    if not any(k in meta for k in CHECKPOINT_KEYS):
        return None

    def fail(message):
        sys.exit(f"error: checkpoint {path}: {message}")

    def get(key):
        if key not in meta:
            fail(f'its metadata lacks "{key}" (format {CHECKPOINT_FORMAT})')
        return meta[key]

    if get("checkpoint") != CHECKPOINT_FORMAT:
        fail(f'metadata checkpoint is "{meta["checkpoint"]}", expected "{CHECKPOINT_FORMAT}"')
    name = get("dataset")
    if name not in DATASETS:
        fail(f'metadata dataset "{name}" is not a data set of classify (digits, breast-cancer)')
    _, features, classes = DATASETS[name]
    for key, expected in (("features", features), ("classes", classes)):
        text = get(key)
        if not re.fullmatch(r"[+-]?[0-9]+", text) or int(text) != expected:
            fail(f'metadata {key} "{text}" does not match data set {name} ({expected} {key})')
    text = get("seed")
    if not re.fullmatch(r"[0-9]+", text) or int(text) > 2**63 - 1:
        fail(f'metadata seed "{text}" is not a seed (an integer from 0 to {2**63 - 1})')
    seed = int(text)
    text = get("test_fraction")
    if not re.fullmatch(JSON_NUMBER, text) or not 0 < float(text) < 1:
        fail(f'metadata test_fraction "{text}" is not a number between 0 and 1 (exclusive)')
    test_fraction = float(text)
    lists = {}
    for key, positive in (("scaler.mean", False), ("scaler.std", True)):
        v = parse_f32_list(get(key))
        if v is None or v.shape[0] != features or (positive and not bool((v > 0).all())):
            fail(f"metadata {key} is not a JSON list of {features} {'positive ' if positive else ''}"
                 "finite float32 values")
        lists[key] = v
    return {"dataset": name, "seed": seed, "test_fraction": test_fraction,
            "mean": lists["scaler.mean"], "std": lists["scaler.std"]}


def save_checkpoint(model, run, path):
    """nn.Linear's state_dict in safetensors with the run's metadata, through a temp file and a rename."""
    from safetensors.torch import save
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_file(path, save(tensors, metadata=run_metadata(run)))


def check_header(data, path):
    """The safetensors header's frame, checked before the library parses it, with the same words
    as src/io/checkpoint.rs: its length within bounds and the file, and a JSON object."""
    n = int.from_bytes(data[:8], "little")
    if n > 64 * 1024:
        sys.exit(f"error: checkpoint {path} is not a safetensors file: its header claims {n} bytes, "
                 f"more than the {64 * 1024} accepted")
    if 8 + n > len(data):
        sys.exit(f"error: checkpoint {path} is truncated: its header claims {n} bytes, "
                 f"the file has {len(data) - 8} after the first 8")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        sys.exit(f"error: checkpoint {path} is not a safetensors file: its header is not a JSON object")


def saved_dataset(path):
    """The data set a checkpoint's metadata names, read before the run to know its data file; None
    when it has no such metadata or cannot be read (read_checkpoint then says why). As Rust."""
    largest = max((f + 1) * (1 if c == 2 else c) * 8 for _, f, c in DATASETS.values())
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > 8 + 64 * 1024 + largest:
                return None
            data = f.read()
        n = int.from_bytes(data[:8], "little")
        if len(data) < 8 or 8 + n > len(data):
            return None
        meta = json.loads(data[8:8 + n].decode("utf-8")).get("__metadata__")
        if meta.get("checkpoint") != CHECKPOINT_FORMAT or meta.get("dataset") not in DATASETS:
            return None
        return meta["dataset"]
    except (OSError, ValueError, AttributeError):
        return None


def classify_data_file(args):
    """The data file the run reads (src/programs/classify.rs data_file): --dataset's, else the
    --load checkpoint's (from its metadata), else digits'; None when the checkpoint cannot tell."""
    name = args.dataset
    if name is None and args.load is None:
        name = "digits"
    elif name is None:
        name = saved_dataset(args.load) or ("digits" if args.plain_checkpoint else None)
    return None if name is None else os.path.join(args.data_dir, DATASETS[name][0])


def read_checkpoint(path, device):
    """safetensors.torch.load_file(path) and its metadata, checked as src/io/checkpoint.rs checks them:
    safetensors only, never pickle. The state_dict is then given to model.load_state_dict."""
    from safetensors.torch import load

    # A regular file only (not a FIFO or /dev/zero), no larger than the largest layer
    # (Linear(64, 10) in float64) with its header, as src/io/checkpoint.rs reads it.
    largest = max((f + 1) * (1 if c == 2 else c) * 8 for _, f, c in DATASETS.values())
    data = read_regular(path, 8 + 64 * 1024 + largest, "checkpoint")
    size = len(data)
    if size < 8:
        sys.exit(f"error: checkpoint {path} is not a safetensors file: {size} bytes, too short for a header")
    check_header(data, path)
    try:
        meta = json.loads(data[8:8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
        state = {k: v.to(device) for k, v in load(data).items()}
    except Exception as e:  # a file that passes the header checks but not safetensors'
        sys.exit(f"error: checkpoint {path} is not a valid safetensors file ({str(e).splitlines()[0]})")
    for name in sorted(state):
        if state[name].dtype not in LOADABLE:
            sys.exit(f"error: checkpoint {path}: {name} is {str(state[name].dtype).replace('torch.', '')}; "
                     "only float16, bfloat16, float32 and float64 load (cast to float32)")
    if sorted(state) != ["bias", "weight"]:
        sys.exit(f"error: checkpoint {path} holds tensors {json.dumps(sorted(state))}, expected exactly "
                 "\"weight\" and \"bias\" (nn.Linear's state_dict)")
    run = run_from_metadata(meta, path)
    weight, bias = state["weight"], state["bias"]
    if weight.dim() != 2 or bias.dim() != 1 or bias.shape[0] != weight.shape[0]:
        sys.exit(f"error: checkpoint {path}: weight {list(weight.shape)} and bias {list(bias.shape)} are not the "
                 "shapes of an nn.Linear")
    if weight.dtype != bias.dtype:
        sys.exit(f"error: checkpoint {path}: weight is {LOADABLE[weight.dtype]} and bias is {LOADABLE[bias.dtype]}: "
                 "expected one dtype")
    if run is not None:
        _, features, classes = DATASETS[run["dataset"]]
        expected = [1 if classes == 2 else classes, features]
        if list(weight.shape) != expected:
            sys.exit(f"error: checkpoint {path}: weight has shape {list(weight.shape)}, expected {expected} for "
                     f"Linear({expected[1]}, {expected[0]}) on {run['dataset']} (its metadata)")
    return {"state": state, "dtype": LOADABLE[weight.dtype], "run": run}


def add_classify_parser(sub):
    p = sub.add_parser("classify", help="softmax (digits) and sigmoid (breast cancer) on real data")
    # None when not given: the checkpoint's with --load, else digits, 0.25 and 0.
    p.add_argument("--dataset", choices=list(DATASETS), default=None)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--test-fraction", type=fraction, default=None)
    p.add_argument("--seed", type=seed_value, default=None)
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_finite, default=None)
    p.add_argument("--momentum", type=non_negative_finite, default=None)
    p.add_argument("--weight-decay", type=non_negative_finite, default=None)
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--save", metavar="FILE", help="save the trained layer (safetensors)")
    p.add_argument("--load", metavar="FILE", help="start from a saved layer (safetensors)")
    p.add_argument("--plain-checkpoint", action="store_true",
                   help="with --load: accept a checkpoint without metadata (this run's split and standardisation)")
    p.add_argument("--evaluate", action="store_true",
                   help="with --load: evaluate only, on the training run's test set (from the checkpoint)")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=classify)


def _Once(base):
    """An argparse action class that refuses a second occurrence of its option."""
    class Once(base):
        def __call__(self, parser, namespace, values, option_string=None):
            seen = namespace.__dict__.setdefault("_seen_options", set())
            if self.dest in seen:
                print(f"error: the argument {parser._named(self.option_strings[0])} "
                      "cannot be used multiple times", file=sys.stderr)
                sys.exit(2)
            seen.add(self.dest)
            super().__call__(parser, namespace, values, option_string)
    return Once


class ClapLikeParser(argparse.ArgumentParser):
    """argparse answering bad usage as the Rust programs (clap, through src/cli.rs) do: one line
    `error: ...` with clap's wording, exit status 2. No abbreviated options; a value may start
    with '-' (`--lr -1`, `--lr -inf`) and is then checked as a value."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(?!-)")
        # An option given twice is an error, as clap says it (argparse would keep the last).
        self.register("action", None, _Once(argparse._StoreAction))
        self.register("action", "store", _Once(argparse._StoreAction))
        self.register("action", "store_true", _Once(argparse._StoreTrueAction))

    def _named(self, option):
        action = self._option_string_actions.get(option)
        if action is None:
            return f"'{option}'"
        if action.nargs == 0:
            return f"'{option}'"
        return f"'{option} <{action.metavar or action.dest.upper()}>'"

    def _get_value(self, action, arg_string):
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as e:
            raise argparse.ArgumentError(
                action, f"invalid value '{arg_string}' for {self._named(action.option_strings[0])}: {e.message}")

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise argparse.ArgumentError(
                action, f"invalid value '{value}' for {self._named(action.option_strings[0])} "
                        f"[possible values: {choices}]")

    def error(self, message):
        line = message
        m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)$", message)
        if m:
            option, rest = m.groups()
            if rest == "expected one argument":
                line = f"a value is required for {self._named(option)} but none was supplied"
            elif rest.startswith("not allowed with argument "):
                other = rest[len("not allowed with argument "):]
                line = f"the argument {self._named(other)} cannot be used with {self._named(option)}"
            else:
                line = rest
        elif message.startswith("unrecognized arguments: "):
            line = f"unexpected argument '{message.split(': ', 1)[1].split()[0]}' found"
        elif message.startswith("the following arguments are required: "):
            names = message.split(": ", 1)[1].split(", ")
            line = "the following required arguments were not provided: " + " ".join(
                self._named(n).strip("'") for n in names)
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)


def main():
    parser = ClapLikeParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="program", required=True)
    add_softmax_parser(sub)
    add_autograd_parser(sub)
    add_fc_parser(sub)
    add_activations_parser(sub)
    add_classify_parser(sub)
    args = parser.parse_args()
    # No output may replace an input or another output (as src/cli.rs distinct_files).
    files = []
    if args.program == "classify" and classify_data_file(args) is not None:
        files.append(("the data file", classify_data_file(args), False))
    if getattr(args, "load", None):
        files.append(("--load", args.load, False))
    for option in ("plot", "save", "json"):
        path = getattr(args, option, None)
        if path is not None and path != "-":
            files.append((f"--{option}", path, True))
    distinct_files(files)
    # Outputs that cannot be written fail before any work, as on the Rust side.
    for option in ("plot", "save", "json"):
        path = getattr(args, option, None)
        if path is not None and path != "-":
            check_writable(path)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        args.run(args)
    except (KeyboardInterrupt, Terminated) as e:
        name, code = ("SIGTERM", 143) if isinstance(e, Terminated) else ("SIGINT", 130)
        print(f"error: interrupted by {name}: stopped before writing any output", file=sys.stderr)
        sys.exit(code)
    except BrokenPipeError:
        # `reference.py ... | head`: end quietly, as the Rust programs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
