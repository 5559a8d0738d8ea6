#!/usr/bin/env python3
"""The lesson's PyTorch code, with the same options, text output and JSON trace as the Rust
programs, so that the two can be compared bit for bit (scripts/parity.py).

    python scripts/reference.py softmax [--seed 7] [--epochs 70] [--lr 0.1] [--samples 7]
                                        [--logits] [--device cpu] [--json PATH]
"""
import argparse
import json
import math
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn


# The lesson formats the loss tensor itself ('%.4f' % train_l), which makes PyTorch warn about
# converting a tensor that requires grad; the value is what the lesson prints, so keep it quiet.
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")


# ---------------------------------------------------------------- shared helpers
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
    """A float for JSON; NaN and infinities as strings, as src/trace.rs writes them."""
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


def write_json(path, value):
    """Pretty JSON to PATH through a temp file and a rename (`-` = stdout)."""
    text = json.dumps(value, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    write_file(path, text.encode())


def write_file(path, data):
    """Bytes to PATH through a temp file in the same folder and a rename; a device such as
    /dev/null or /dev/full is written in place, never replaced (as src/trace.rs does)."""
    try:
        if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
            with open(path, "wb") as f:
                f.write(data)
            return
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError as e:
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def diverged(loss, what):
    """The error for a loss that is no longer finite (as src/cli.rs words it): stop, exit 1."""
    print("error: the loss is %s at %s: training diverged (try a smaller --lr, or --allow-nan to watch it)"
          % (fmt_value(loss, 4), what), file=sys.stderr)
    sys.exit(1)


def number_arg(convert, ok, requirement):
    """An argparse type: `convert` the text, then require `ok(value)` (as src/cli.rs words it)."""
    kind = "an integer" if convert is int else "a number"

    def parse(s):
        try:
            v = convert(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not {kind}")
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{requirement}, got {v}")
        return v

    return parse


positive_int = number_arg(int, lambda v: v >= 1, "must be at least 1")
at_least_2 = number_arg(int, lambda v: v >= 2, "must be at least 2")
positive_finite = number_arg(float, lambda v: math.isfinite(v) and v > 0, "must be a finite number greater than 0")
non_negative_finite = number_arg(float, lambda v: math.isfinite(v) and v >= 0, "must be a finite number of at least 0")
fraction = number_arg(float, lambda v: 0 < v < 1, "must be between 0 and 1 (exclusive)")


def seed_value(s):
    try:
        v = int(s)
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
    X = torch.rand((args.samples, 2, 2)).to(device)
    target = torch.randint(0, 2, (args.samples,)).to(device)

    net = LinearNet(logits=args.logits).to(device)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    initial = named_json(net.dense)

    losses = []
    for epoch in range(args.epochs):
        train_l = 0.0
        y_hat = net(X)
        l = loss(y_hat, target).sum()
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        train_l += l
        if not math.isfinite(train_l) and not args.allow_nan:
            diverged(float(train_l), "epoch %d" % (epoch + 1))
        losses.append(float(train_l))
        if args.json != "-":
            print('epoch %d, loss %.4f' % (epoch + 1, train_l))

    if args.json:
        write_json(args.json, {
            "program": "softmax",
            "torch_version": torch.__version__,
            "device": str(device),
            "config": {"seed": args.seed, "epochs": args.epochs, "lr": args.lr,
                       "samples": args.samples, "logits": args.logits},
            "initial_parameters": initial,
            "losses": [number(v) for v in losses],
            "final_parameters": named_json(net.dense),
            "final_grads": grads_json(net.dense),
        })


def add_softmax_parser(sub):
    p = sub.add_parser("softmax", help="the lesson's softmax regression (LinearNet)")
    p.add_argument("--seed", type=seed_value, default=7, help="random seed (torch.manual_seed)")
    p.add_argument("--epochs", type=positive_int, default=70, help="number of training epochs")
    p.add_argument("--lr", type=positive_finite, default=0.1, help="SGD learning rate")
    p.add_argument("--samples", type=positive_int, default=7, help="X = rand(samples, 2, 2)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--logits", action="store_true", help="train on the raw logits")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=softmax)


# ---------------------------------------------------------------- report helpers (src/report.rs)
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
    def __init__(self, program, device, config):
        self.program, self.device, self.config, self.blocks = program, device, config, []

    def push(self, block):
        self.blocks.append(block)

    def emit(self, json_path, text=True):
        if text and json_path != "-":
            text = "\n".join("== %s\n%s" % (b.title, "".join(l + "\n" for l in b.lines)) for b in self.blocks)
            sys.stdout.write(text)
            sys.stdout.flush()
        if json_path:
            write_json(json_path, {
                "program": self.program,
                "torch_version": torch.__version__,
                "device": str(self.device),
                "config": self.config,
                "blocks": [{"title": b.title, "values": b.values} for b in self.blocks],
            })


# ---------------------------------------------------------------- section 3: autograd
def autograd_demo(args):
    if args.graph == "-" and args.json == "-":
        print("error: --graph - and --json - cannot both write to stdout", file=sys.stderr)
        sys.exit(2)
    device = parse_device(args.device)
    D = 4
    show = lambda t: fmt_tensor(t, D)
    show_grad = lambda t: "None" if t.grad is None else show(t.grad)
    report = Report("autograd_demo", device, {})

    def graph():
        w = torch.tensor([1.], requires_grad=True, device=device)
        x = torch.tensor([2.], requires_grad=True, device=device)
        a = torch.add(w, x)
        b = torch.add(w, 1)
        y = torch.mul(a, b)
        return w, x, a, b, y

    def record_grads(block, suffix=""):
        block.line("w.grad = %s" % show_grad(w)).line("x.grad = %s" % show_grad(x))
        block.tensor("w.grad" + suffix, w.grad).tensor("x.grad" + suffix, x.grad)

    # 1. The lesson's graph.
    w, x, a, b, y = graph()
    block = Block("1. The lesson's graph: y = (w + x) * (w + 1)")
    block.line("w = %s, x = %s (leaves, requires_grad=True)" % (show(w), show(x)))
    block.line("a = torch.add(w, x) = %s" % show(a))
    block.line("b = torch.add(w, 1) = %s" % show(b))
    block.line("y = torch.mul(a, b) = %s" % show(y))
    block.line("y.backward(retain_graph=True)").tensor("y", y)
    y.backward(retain_graph=True)
    record_grads(block)
    block.line("dy/dw = b + a = 2 + 3 = 5, dy/dx = b = 2")
    report.push(block)

    # 2. Accumulation.
    block = Block("2. Gradients accumulate: backward does not zero them")
    block.line("y.backward(retain_graph=True) again, on the retained graph")
    y.backward(retain_graph=True)
    record_grads(block, " after 2 passes")
    block.line("w.grad.zero_(); x.grad.zero_(); y.backward(retain_graph=True)")
    w.grad.zero_()
    x.grad.zero_()
    y.backward(retain_graph=True)
    record_grads(block, " after zeroing")
    report.push(block)

    # 3. Leaves and non-leaves.
    block = Block("3. Leaves and non-leaves")
    block.line("name  is_leaf  requires_grad  grad")
    for name, t in [("w", w), ("x", x), ("a", a), ("b", b), ("y", y)]:
        grad = show_grad(t) if t.is_leaf else "None"  # a non-leaf's .grad is None (and PyTorch warns)
        block.line("%-5s %-8s %-14s %s" % (name, t.is_leaf, t.requires_grad, grad))
        block.value(name + ".is_leaf", t.is_leaf).value(name + ".requires_grad", t.requires_grad)
    block.line("a, b and y require grad because they depend on a leaf that does;")
    block.line("only leaves keep .grad after backward (non-leaves need retain_grad()).")
    report.push(block)

    # 4. In-place change of a leaf.
    block = Block("4. A leaf that requires grad cannot be changed in place")
    try:
        w.add_(1)
        outcome = "no error"
    except RuntimeError as e:
        outcome = "RuntimeError: %s" % str(e).splitlines()[0]
    block.line("w.add_(1)").line("-> %s" % outcome)
    block.line("w is unchanged: %s" % show(w))
    block.value("in_place_error", outcome).tensor("w after", w)
    report.push(block)

    # 5. retain_graph.
    block = Block("5. retain_graph: a graph is freed by the backward pass that does not retain it")
    w, x, a, b, y = graph()
    block.line("y = (w + x) * (w + 1); y.backward()  # retain_graph defaults to create_graph=False")
    y.backward()
    try:
        y.backward()
        second = "no error"
    except RuntimeError as e:
        second = "RuntimeError: %s" % str(e).splitlines()[0]
    block.line("y.backward()").line("-> %s" % second)
    block.value("second_backward_error", second)
    report.push(block)

    # 6. grad_tensors.
    block = Block("6. grad_tensors: several outputs in one pass, weighted")
    w, x, a, b, y = graph()
    y0 = a * b
    y1 = a + b
    weights = torch.tensor([1., 2.], device=device)
    block.line("y0 = a * b = %s, y1 = a + b = %s" % (show(y0), show(y1)))
    block.line("torch.autograd.backward([y0, y1], grad_tensors=[tensor([1.]), tensor([2.])])")
    torch.autograd.backward([y0, y1], grad_tensors=[weights[0:1], weights[1:2]])
    record_grads(block)
    block.line("w.grad = 1 * 5 + 2 * 2 = 9, x.grad = 1 * 2 + 2 * 1 = 4")
    report.push(block)

    # 7. create_graph.
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
    report.push(block)

    # 8. The graphs themselves.
    block = Block("8. The computation graph, read from libtorch (grad_fn.next_functions): gradients flow along ->")
    w, x, a, b, y = graph()
    lesson = autograd_graph([("y", y)], [("w", w), ("x", x), ("a", a), ("b", b)])
    x = torch.tensor([2.], requires_grad=True, device=device)
    y = x ** 3
    (d1,) = torch.autograd.grad(y, x, create_graph=True)
    derivative = autograd_graph([("d1", d1)], [("x", x), ("y", y)])
    for caption, g, key in [("y = (w + x) * (w + 1)", lesson, "graph y"),
                            ("d1 = dy/dx of y = x ** 3, with create_graph=True", derivative, "graph d1")]:
        block.line("%s: %d nodes, %d edges" % (caption, len(g["nodes"]), len(g["edges"])))
        for line in graph_lines(g):
            block.line("  " + line)
        block.value(key, g)
    block.line("AccumulateGrad (w) is reached from both AddBackward0 nodes: w's gradient is the sum of both paths;")
    block.line("None is an input that gets no gradient (the constant 1, the incoming gradient of d1's graph).")
    report.push(block)

    if args.graph == "-":
        # `--graph -`: the graph block alone (src/bin/autograd_demo.rs does the same).
        sys.stdout.write("== %s\n%s" % (block.title, "".join(l + "\n" for l in block.lines)))
        sys.stdout.flush()
        report.emit(args.json, text=False)
        return
    report.emit(args.json)


def autograd_graph(outputs, named):
    """The graph behind `outputs` as src/graph.rs walks it: breadth first from the outputs, each
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
    """One line per edge, `MulBackward0 -> AddBackward0 (a)` (as src/graph.rs's Graph::lines)."""
    return ["%s -> %s" % (a, "None" if b is None else b) for a, b in g["edges"]]


def add_autograd_parser(sub):
    p = sub.add_parser("autograd_demo", help="the lesson's autograd section, step by step")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
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
    device = parse_device(args.device)
    D = 6
    show = lambda t: fmt_tensor(t, D)
    report = Report("fc_demo", device, {"seed": args.seed, "lr": args.lr, "steps": args.steps})

    torch.manual_seed(args.seed)
    model = SimpleFC(input_size=3, output_size=2).to(device)
    input_data = torch.tensor([[1.0, 2.0, 3.0]], device=device)
    target_output = torch.tensor([[4.0, 5.0]], device=device)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    weight, bias = model.fc.weight, model.fc.bias

    block = Block("1. The model: SimpleFC(3, 2) = nn.Linear(3, 2), initialised as PyTorch does (seed %d)" % args.seed)
    block.line("fc.weight = %s" % show(weight)).line("fc.bias = %s" % show(bias))
    block.tensor("weight", weight).tensor("bias", bias)
    report.push(block)

    output = model(input_data)
    loss = criterion(output, target_output)
    block = Block("2. Forward: output = model(input_data), loss = nn.MSELoss()(output, target_output)")
    block.line("input_data = %s, target_output = %s" % (show(input_data), show(target_output)))
    block.line("output = x W^T + b = %s" % show(output))
    block.line("loss = mean((output - target)^2) = %s" % show(loss))
    block.tensor("output", output).tensor("loss", loss)
    report.push(block)

    loss.backward()
    grad_w, grad_b = weight.grad, bias.grad
    hand_w, hand_b = hand_gradients(input_data, output, target_output)
    block = Block("3. loss.backward(): the gradients by autograd, and derived by hand")
    block.line("fc.weight.grad = %s" % show(grad_w))
    block.line("by hand, 2/n (out - t)^T x = %s" % show(hand_w))
    block.line("fc.bias.grad = %s" % show(grad_b))
    block.line("by hand, 2/n (out - t) = %s" % show(hand_b))
    dw, db = max_abs_diff(grad_w, hand_w), max_abs_diff(grad_b, hand_b)
    block.line("largest difference autograd - hand: weight %s, bias %s" % (fmt_value(dw, 10), fmt_value(db, 10)))
    block.line("backward() only fills .grad: the parameters have not changed yet.")
    block.tensor("weight.grad", grad_w).tensor("bias.grad", grad_b)
    block.tensor("weight.grad by hand", hand_w).tensor("bias.grad by hand", hand_b)
    report.push(block)

    old_w, old_b = weight.detach().clone(), bias.detach().clone()
    optimizer.step()
    expected_w = old_w - grad_w * args.lr
    expected_b = old_b - grad_b * args.lr
    block = Block("4. optimizer.step(): param <- param - lr * param.grad, lr = %r" % args.lr)
    block.line("fc.weight before = %s" % show(old_w)).line("fc.weight after  = %s" % show(weight))
    block.line("fc.bias before = %s" % show(old_b)).line("fc.bias after  = %s" % show(bias))
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
    report.push(block)

    if args.steps > 1:
        block = Block("5. Training on: steps 2 to %d" % args.steps)
        losses = []
        for step in range(2, args.steps + 1):
            optimizer.zero_grad()
            loss = criterion(model(input_data), target_output)
            loss.backward()
            optimizer.step()
            if not math.isfinite(loss.item()) and not args.allow_nan:
                diverged(loss.item(), "step %d" % step)
            block.line("step %d, loss %s" % (step, fmt_value(loss.item(), D)))
            losses.append(number(loss.item()))
        block.value("losses", losses).tensor("weight", weight).tensor("bias", bias)
        report.push(block)

    report.emit(args.json)


def add_fc_parser(sub):
    p = sub.add_parser("fc_demo", help="the lesson's fully connected layer, MSE loss and one SGD step")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (torch.manual_seed)")
    p.add_argument("--lr", type=positive_finite, default=0.01, help="SGD learning rate")
    p.add_argument("--steps", type=positive_int, default=1, help="optimiser steps in all")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
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


def activations(args):
    device = parse_device(args.device)
    f4 = lambda v: fmt_value(v, 4)
    report = Report("activations", device, {"points": args.points, "seed": args.seed, "epochs": args.epochs})

    # 1. The table.
    x = torch.linspace(-6, 6, args.points, device=device)
    sig, sig_g = value_and_grad(torch.sigmoid, x)
    th, th_g = value_and_grad(torch.tanh, x)
    re, re_g = value_and_grad(torch.relu, x)
    block = Block("1. Sigmoid, tanh and ReLU on %d points from -6 to 6, with autograd gradients" % args.points)
    block.line("%8s %9s %9s %9s %9s %9s %9s" % ("x", "sigmoid", "d/dx", "tanh", "d/dx", "relu", "d/dx"))
    columns = [t.double().cpu().tolist() for t in (x, sig, sig_g, th, th_g, re, re_g)]
    for row in zip(*columns):
        block.line("%8s %9s %9s %9s %9s %9s %9s" % tuple(f4(v) for v in row))
    for name, t in [("x", x), ("sigmoid", sig), ("sigmoid'", sig_g), ("tanh", th), ("tanh'", th_g), ("relu", re), ("relu'", re_g)]:
        block.tensor(name, t)
    report.push(block)

    # 2. The properties, read off the numbers.
    block = Block("2. What the numbers show")
    xs = columns[0]
    at_max = lambda g: xs[g.argmax().item()]
    scalar = lambda t: t.detach().double().item()
    sg = columns[2]
    block.line("sigmoid: values in [%s, %s], inside (0, 1); gradient at most %s at x = %s; at the ends %s and %s: it vanishes"
               % (fmt_value(scalar(sig.min()), 6), fmt_value(scalar(sig.max()), 6), f4(scalar(sig_g.max())),
                  f4(at_max(sig_g)), fmt_value(sg[0], 6), fmt_value(sg[-1], 6)))
    odd_gap = scalar((torch.tanh(x.neg()) + th).abs().max())
    tanh0 = scalar(torch.tanh(torch.zeros(1, device=device)))
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
    report.push(block)

    # 3. A dead ReLU unit.
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
    report.push(block)

    # 4. Softmax.
    block = Block("4. Softmax: a probability distribution over the scores")
    torch.manual_seed(args.seed)
    z = (torch.randn(4, 5) * 3).to(device)
    p = torch.softmax(z, 1)
    sums = p.sum(1)
    sum_gap = scalar((sums - 1.0).abs().max())
    block.line("z = randn(4, 5) * 3 (seed %d); p = softmax(z, dim=1):" % args.seed)
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
    report.push(block)

    # 5. Multi-class cross-entropy, three ways.
    block = Block("5. Cross-entropy for several classes, three ways")
    logits = torch.randn(4, 3).to(device)
    labels = torch.tensor([0, 2, 1, 2], device=device)
    probs = torch.softmax(logits, 1)
    one_hot = F.one_hot(labels, 3).float()
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
    report.push(block)

    # 6. Binary cross-entropy.
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
    report.push(block)

    # 7. The lesson's double softmax.
    block = Block("7. The lesson's double softmax: CrossEntropyLoss on softmax outputs")
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
    block.line("training the lesson's LinearNet for %d epochs (seed 7, lr 0.1, 7 samples):" % args.epochs)
    for logits_mode, what in [(False, "the lesson, softmax then CrossEntropyLoss"), (True, "--logits, CrossEntropyLoss on the logits")]:
        last, accuracy = train_linear_net(7, args.epochs, 0.1, 7, logits_mode, device)
        block.line("  %s: final loss %s, accuracy %s" % (what, f4(last), f4(accuracy)))
        key = "logits" if logits_mode else "double softmax"
        block.number(key + " final loss", last).number(key + " accuracy", accuracy)
    (block.number("lower bound", bound).number("one-hot loss", scalar(best))
     .number("grad norm logits", n_logits).number("grad norm double softmax", n_double))
    report.push(block)

    report.emit(args.json)


def add_activations_parser(sub):
    p = sub.add_parser("activations", help="the lesson's activations and cross-entropy, with numbers")
    p.add_argument("--points", type=at_least_2, default=13, help="grid points from -6 to 6")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the random scores")
    p.add_argument("--epochs", type=positive_int, default=70, help="epochs for the double-softmax comparison")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=activations)


# ---------------------------------------------------------------- real data: softmax for 10 classes, sigmoid for 2
DATASETS = {  # name: (file, features, classes)
    "digits": ("digits.csv", 64, 10),
    "breast-cancer": ("breast_cancer.csv", 30, 2),
}


def load_dataset(data_dir, name):
    """The CSV that scripts/make_datasets.py writes: a header, then features and the label."""
    import csv
    file, features, classes = DATASETS[name]
    path = os.path.join(data_dir, file)
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found: run scripts/setup.sh, or .venv/bin/python scripts/make_datasets.py")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    X = torch.tensor([[float(v) for v in row[:features]] for row in rows], dtype=torch.float32)
    y = torch.tensor([int(row[features]) for row in rows], dtype=torch.int64)
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
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(test)).values


def classify(args):
    device = parse_device(args.device)
    binary = args.dataset == "breast-cancer"
    X, y, features, classes = load_dataset(args.data_dir, args.dataset)

    torch.manual_seed(args.seed)
    train_idx, test_idx = stratified_split(y, classes, args.test_fraction)
    n_train = train_idx.shape[0]
    if args.batch_size > n_train:
        print(f"error: --batch-size {args.batch_size} is larger than the training set ({n_train} samples): "
              f"use at most {n_train}", file=sys.stderr)
        sys.exit(2)
    X_train_raw = X.index_select(0, train_idx)
    mean = X_train_raw.mean(0)
    std = X_train_raw.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # constant features stay as they are
    X_train = ((X_train_raw - mean) / std).to(device)
    X_test = ((X.index_select(0, test_idx) - mean) / std).to(device)
    y_train = y.index_select(0, train_idx).to(device)
    y_test = y.index_select(0, test_idx).to(device)

    # Binary classification -> sigmoid; multi-class -> softmax (the lesson's rule).
    model = nn.Linear(features, 1 if binary else classes).to(device)
    loss = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()

    def loss_fn(out, target):
        return loss(out, target.float().unsqueeze(1)) if binary else loss(out, target)

    def predict(inputs):
        with torch.no_grad():
            out = model(inputs)
            return (torch.sigmoid(out.squeeze(1)) > 0.5).long() if binary else out.argmax(1)

    def accuracy(inputs, target):
        return (predict(inputs) == target).sum().item() / target.shape[0]

    def say(line):
        if args.json != "-":
            print(line, flush=True)

    say("dataset %s: %d samples, %d features, %d classes; train %d, test %d (stratified, test fraction %r, seed %d)"
        % (args.dataset, X.shape[0], features, classes, n_train, test_idx.shape[0], args.test_fraction, args.seed))
    if binary:
        say("model: Linear(%d, 1) -> sigmoid; loss: BCEWithLogitsLoss (sigmoid and binary cross-entropy fused)" % features)
    else:
        say("model: Linear(%d, %d) -> softmax; loss: CrossEntropyLoss on the logits" % (features, classes))
    if args.load:
        load_checkpoint(model, args.load, device)
        say("loaded %s: %s" % (args.load, "evaluating, no training" if args.evaluate else "training on from there"))
    initial = named_json(model)

    epochs = []
    if not args.evaluate:
        say("optimizer: SGD lr %r, momentum %r, weight decay %r; batch size %d, %d epochs"
            % (args.lr, args.momentum, args.weight_decay, args.batch_size, args.epochs))
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                    weight_decay=args.weight_decay)
        for epoch in range(1, args.epochs + 1):
            perm = torch.randperm(n_train).to(device)
            running = torch.zeros((), device=device)
            for start in range(0, n_train, args.batch_size):
                nb = min(args.batch_size, n_train - start)
                idx = perm[start:start + nb]
                xb, yb = X_train.index_select(0, idx), y_train.index_select(0, idx)
                l = loss_fn(model(xb), yb)
                optimizer.zero_grad()
                l.backward()
                optimizer.step()
                running += l.detach() * float(nb)
            epoch_loss = running.item() / n_train
            if not math.isfinite(epoch_loss) and not args.allow_nan:
                diverged(epoch_loss, "epoch %d" % epoch)
            stats = {"loss": number(epoch_loss), "train_accuracy": accuracy(X_train, y_train),
                     "test_accuracy": accuracy(X_test, y_test)}
            say("epoch %3d  loss %s  train acc %s  test acc %s" % (epoch, fmt_value(epoch_loss, 6),
                fmt_value(stats["train_accuracy"], 4), fmt_value(stats["test_accuracy"], 4)))
            epochs.append(stats)

    predicted = predict(X_test).cpu().tolist()
    truth = y_test.cpu().tolist()
    confusion = [[0] * classes for _ in range(classes)]
    for t, p in zip(truth, predicted):
        confusion[t][p] += 1
    say("confusion matrix (test set; rows: true class, columns: predicted class):")
    say("      " + "".join("%5d" % c for c in range(classes)))
    for c, row in enumerate(confusion):
        say("%5d " % c + "".join("%5d" % v for v in row))
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
    correct = sum(confusion[c][c] for c in range(classes))
    test_accuracy = correct / len(truth)
    say("test accuracy %s (%d/%d)" % (fmt_value(test_accuracy, 4), correct, len(truth)))

    if args.save:
        save_checkpoint(model, args.save)
    if args.json:
        write_json(args.json, {
            "program": "classify",
            "torch_version": torch.__version__,
            "device": str(device),
            "config": {"dataset": args.dataset, "test_fraction": args.test_fraction, "seed": args.seed,
                       "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                       "momentum": args.momentum, "weight_decay": args.weight_decay, "evaluate": args.evaluate},
            "dataset": {"samples": X.shape[0], "features": features, "classes": classes, "train": n_train,
                        "test": len(truth), "test_indices": test_idx.tolist()},
            "initial_parameters": initial,
            "epochs": epochs,
            "final_parameters": named_json(model),
            "confusion_matrix": confusion,
            "precision": precision,
            "recall": recall,
            "support": support,
            "test_accuracy": test_accuracy,
        })


def save_checkpoint(model, path):
    """nn.Linear's state_dict in safetensors, through a temp file and a rename."""
    from safetensors.torch import save
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_file(path, save(tensors, metadata={"format": "pt"}))


def load_checkpoint(model, path, device):
    """model.load_state_dict(safetensors.torch.load_file(path)): safetensors only, never pickle."""
    from safetensors.torch import load_file
    try:
        model.load_state_dict(load_file(path, device=str(device)))
    except Exception as e:  # a missing, truncated, foreign or mismatched file
        sys.exit(f"error: cannot load checkpoint {path}: {str(e).splitlines()[0]}")


def add_classify_parser(sub):
    p = sub.add_parser("classify", help="softmax (digits) and sigmoid (breast cancer) on real data")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--test-fraction", type=fraction, default=0.25)
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_finite, default=0.1)
    p.add_argument("--momentum", type=non_negative_finite, default=0.0)
    p.add_argument("--weight-decay", type=non_negative_finite, default=0.0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--save", metavar="FILE", help="save the trained layer (safetensors)")
    p.add_argument("--load", metavar="FILE", help="start from a saved layer (safetensors)")
    p.add_argument("--evaluate", action="store_true", help="with --load: evaluate only")
    p.add_argument("--allow-nan", action="store_true", help="go on when the loss becomes NaN or infinite")
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=classify)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="program", required=True)
    add_softmax_parser(sub)
    add_autograd_parser(sub)
    add_fc_parser(sub)
    add_activations_parser(sub)
    add_classify_parser(sub)
    args = parser.parse_args()
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("error: interrupted by SIGINT: stopped before writing any output", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `reference.py ... | head`: end quietly, as the Rust programs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
