#!/usr/bin/env python3
"""The lesson's PyTorch code, with the same options, text output and JSON trace as the Rust
programs, so that the two can be compared bit for bit (scripts/parity.py).

    python scripts/reference.py softmax [--seed 7] [--epochs 70] [--lr 0.1] [--samples 7]
                                        [--logits] [--device cpu] [--json PATH]

The lesson's code itself is in scripts/lesson/ (a file per section); the programs here are built
on it. Their machinery (options, files, signals, the report and the trace) is in scripts/twin/.
"""
import os  # noqa: E402
import sys  # noqa: E402


def _open_standard_descriptors():
    """A closed stdin, stdout or stderr (`2>&-`) is opened on /dev/null, as Rust's runtime does
    before main: else the next file opened would take its number, and Python, which then has
    sys.stderr = None, would print the error line to stdout (`print(file=None)`)."""
    import io
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if fd:
                setattr(sys, name, io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), line_buffering=True))


_open_standard_descriptors()
from twin import signals  # noqa: E402  (first of the rest: a signal during the slow imports below ends with one line)

if __name__ == "__main__":  # the program's own handlers; none for a script that imports this one
    signals.install()
    signals.refuse_deleted_working_folder()  # import torch dies there (Intel oneMKL)

import argparse  # noqa: E402 (after the signal handlers, on purpose)
import json
import math
import os
import stat
import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from lesson import activations as activation_functions
from lesson import autograd, fully_connected, softmax_regression
from lesson.softmax_regression import LinearNet  # noqa: F401 (scripts/bench.py uses reference.LinearNet)
from twin.errors import diverged, one_line_exit, torch_error
from twin.files import check_writable, distinct_files, patient_stdout, read_regular, write_file, write_json
from twin.options import (ClapLikeParser, Version, clap_argv, device_arg, fraction, int_in_range,
                          non_negative_finite, parse_device, positive_finite, positive_int, seed_value)
from twin.report import Block, Report, Silent, fmt_tensor, fmt_value
from twin.signals import run_until_stopped
from twin.trace import grads_json, named_json, number, tensor_json, trace


def struct_float32(v):
    """V rounded to float32 (inf where it overflows, as Rust's `v as f32`)."""
    import struct
    try:
        return struct.unpack("f", struct.pack("f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


# The lesson formats the loss tensor itself ('%.4f' % train_l), which makes PyTorch warn about
# converting a tensor that requires grad; the value is what the lesson prints, so keep it quiet.
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")


# ---------------------------------------------------------------- section 2: softmax regression
class SoftmaxRun(softmax_regression.Observer):
    """What the softmax program takes from the lesson's training (lesson/softmax_regression.py):
    the initial parameters and each epoch's loss, checked to be finite and kept for a trace."""

    def __init__(self, args):
        self.args, self.initial, self.losses, self.started, self.done = args, None, [], False, 0

    def start(self, net):
        self.started = True
        self.initial = named_json(net.dense)

    def epoch(self, epoch, train_l):
        if not math.isfinite(train_l) and not self.args.allow_nan:
            diverged(float(train_l), "epoch %d" % (epoch + 1))
        if self.args.json:  # every loss is kept only for the trace: a long run streams
            self.losses.append(float(train_l))
        self.done = epoch + 1


def softmax(args):
    device = parse_device(args.device)
    run = SoftmaxRun(args)
    try:
        net, _, _ = softmax_regression.train(
            seed=args.seed, samples=args.samples, epochs=args.epochs, lr=args.lr, logits=args.logits,
            device=device, observer=run, file=Silent() if args.json == "-" else None)
    except RuntimeError as e:  # one line naming the option (as src/programs/softmax.rs)
        if not run.started:  # before the net: the data cannot fit in memory
            sys.exit(f"error: --samples {args.samples}: cannot make the data: {torch_error(e)}")
        sys.exit(f"error: epoch {run.done + 1} (--samples {args.samples}): {torch_error(e)}")

    if args.json:
        config = {"seed": args.seed, "epochs": args.epochs, "lr": args.lr, "samples": args.samples, "logits": args.logits}
        write_json(args.json, trace("softmax", device, config, {
            "initial_parameters": run.initial,
            "losses": [number(v) for v in run.losses],
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


# ---------------------------------------------------------------- section 3: autograd
def autograd_demo(args):
    """The blocks in order, each made by the function of that name (as in
    src/programs/autograd_demo.rs), on the lesson's code in lesson/autograd.py."""
    if args.graph == "-" and args.json == "-":
        print("error: --graph - and --json - cannot both write to stdout", file=sys.stderr)
        sys.exit(2)
    device = parse_device(args.device)
    report = Report("autograd_demo", device, {}, args.json, live=False)
    w, x, a, b, y = autograd.graph(device)
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
    autograd.backward(y)
    record_grads(block, w, x)
    block.line("dy/dw = b + a = 2 + 3 = 5, dy/dx = b = 2")
    return block


def accumulation(w, x, y):
    """2. Accumulation."""
    block = Block("2. Gradients accumulate: backward does not zero them")
    block.line("y.backward(retain_graph=True) again, on the retained graph")
    autograd.accumulate(y)
    record_grads(block, w, x, " after 2 passes")
    block.line("w.grad.zero_(); x.grad.zero_(); y.backward(retain_graph=True)")
    autograd.zero_grad(w, x)
    autograd.backward(y)
    record_grads(block, w, x, " after zeroing")
    return block


def leaves(w, x, a, b, y, device):
    """3. Leaves and non-leaves."""
    block = Block("3. Leaves and non-leaves")
    block.line("name  is_leaf  requires_grad  grad")
    nodes = {"w": w, "x": x, "a": a, "b": b, "y": y}
    for name, (is_leaf, requires_grad) in autograd.requires_grad(**nodes).items():
        # Read from the tensor itself, leaf or not: a non-leaf's .grad is None unless retain_grad()
        # was called before backward (reading it warns; the value is what the lesson shows).
        shown, value = read_grad(nodes[name])
        block.line("%-5s %-8s %-14s %s" % (name, is_leaf, requires_grad, shown))
        block.value(name + ".is_leaf", is_leaf).value(name + ".requires_grad", requires_grad)
        block.value(name + ".grad", value)
    block.line("a, b and y require grad because they depend on a leaf that does;")
    block.line("only leaves keep .grad after backward (non-leaves need retain_grad()).")
    a3, b3 = autograd.retain_grad(device)
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
        autograd.add_in_place(w)
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
    block.line("y = (w + x) * (w + 1); y.backward()  # retain_graph defaults to create_graph, here False")
    try:
        autograd.retain_graph(device)  # its second y.backward() fails
        second = "no error"
    except RuntimeError as e:
        second = "RuntimeError: %s" % str(e).splitlines()[0]
    block.line("y.backward()").line("-> %s" % second)
    block.value("second_backward_error", second)
    return block


def grad_tensors(device):
    """6. grad_tensors."""
    block = Block("6. grad_tensors: several outputs in one pass, weighted")
    w, x, y0, y1 = autograd.grad_tensors(device)
    block.line("y0 = a * b = %s, y1 = a + b = %s" % (show(y0), show(y1)))
    block.line("torch.autograd.backward([y0, y1], grad_tensors=[tensor([1.]), tensor([2.])])")
    record_grads(block, w, x)
    block.line("w.grad = 1 * 5 + 2 * 2 = 9, x.grad = 1 * 2 + 2 * 1 = 4")
    return block


def create_graph(device):
    """7. create_graph."""
    block = Block("7. create_graph: higher-order derivatives of y = x^3 at x = 2")
    x, y, d1 = autograd.create_graph(device)
    d2, d3 = autograd.higher_order(x, d1)
    block.line("y = x ** 3 = %s" % show(y))
    block.line("d1 = torch.autograd.grad(y, x, create_graph=True) = %s (3x^2), d1.requires_grad = %s"
               % (show(d1), d1.requires_grad))
    block.line("d2 = torch.autograd.grad(d1, x, create_graph=True) = %s (6x)" % show(d2))
    block.line("d3 = torch.autograd.grad(d2, x) = %s (6)" % show(d3))
    block.line("create_graph=True records the backward pass itself, so its result can be differentiated again;")
    block.line("backward(y, create_graph=True) does the same into x.grad (and PyTorch warns of a reference cycle).")
    block.tensor("d1", d1).tensor("d2", d2).tensor("d3", d3)
    return block


def computation_graph(device):
    """8. The graphs themselves."""
    block = Block("8. The computation graph, read from libtorch (grad_fn.next_functions): gradients flow along ->")
    w, x, a, b, y = autograd.graph(device)
    lesson = autograd_graph([("y", y)], [("w", w), ("x", x), ("a", a), ("b", b)])
    x, y, d1 = autograd.create_graph(device)
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
def hand_gradients(x, output, target):
    """dL/dW = 2/n (out - t)^T x, dL/db = 2/n sum_batch (out - t), n = output.numel()."""
    scale = 2.0 / output.numel()
    diff = (output - target).detach()
    return diff.t().matmul(x) * scale, diff.sum(0) * scale


def max_abs_diff(a, b):
    return (a - b).abs().max().double().item()


def fc_demo(args):
    """The blocks in order, each made by the function of that name (as in
    src/programs/fc_demo.rs), at the lesson's steps in lesson/fully_connected.py."""
    device = parse_device(args.device)
    report = Report("fc_demo", device, {"seed": args.seed, "lr": args.lr, "steps": args.steps}, args.json)
    blocks = FcBlocks(args, report)
    model = fully_connected.train(seed=args.seed, lr=args.lr, steps=args.steps, device=device, observer=blocks)
    if args.steps > 1:
        report.push(blocks.training(model))
    report.emit(args.json)


class FcBlocks(fully_connected.Observer):
    """The walkthrough's blocks 1 to 4, each pushed as the lesson's program reaches its step, and
    block 5's lines as the steps after the lesson's come."""

    def __init__(self, args, report):
        self.args, self.report, self.losses = args, report, []
        self.training_block = Block("5. Training on: steps 2 to %d" % args.steps)

    def start(self, model):
        self.report.push(model_init(model, self.args.seed))

    def forward(self, input_data, target_output, output, loss):
        self.data = input_data, target_output, output
        self.report.push(forward_pass(input_data, target_output, output, loss))

    def backward(self, model):
        self.report.push(backward_pass(model, *self.data))
        self.old = model.fc.weight.detach().clone(), model.fc.bias.detach().clone()

    def step(self, model):
        self.report.push(sgd_step(model, self.old, self.args.lr))

    def training_step(self, step, loss):
        if not math.isfinite(loss.item()) and not self.args.allow_nan:
            diverged(loss.item(), "step %d" % step)
        self.report.stream_line(self.training_block, "step %d, loss %s" % (step, fmt_value(loss.item(), FC_D)))
        if self.report.keeps_values():
            self.losses.append(number(loss.item()))

    def training(self, model):
        """5. Training on, for --steps above 1: the losses (printed as they came) and the parameters."""
        block = self.training_block.value("losses", self.losses)
        return block.tensor("weight", model.fc.weight).tensor("bias", model.fc.bias)


FC_D = 6


def show_fc(t):
    return fmt_tensor(t, FC_D)


def model_init(model, seed):
    """1. The model, initialised as PyTorch does."""
    weight, bias = model.fc.weight, model.fc.bias
    block = Block("1. The model: SimpleFC(3, 2) = nn.Linear(3, 2), initialised as PyTorch does (seed %d)" % seed)
    block.line("fc.weight = %s" % show_fc(weight)).line("fc.bias = %s" % show_fc(bias))
    block.tensor("weight", weight).tensor("bias", bias)
    return block


def forward_pass(input_data, target_output, output, loss):
    """2. Forward: the output and the loss."""
    block = Block("2. Forward: output = model(input_data), loss = nn.MSELoss()(output, target_output)")
    block.line("input_data = %s, target_output = %s" % (show_fc(input_data), show_fc(target_output)))
    block.line("output = x W^T + b = %s" % show_fc(output))
    block.line("loss = mean((output - target)^2) = %s" % show_fc(loss))
    block.tensor("output", output).tensor("loss", loss)
    return block


def backward_pass(model, input_data, target_output, output):
    """3. loss.backward(): the gradients by autograd, and derived by hand."""
    grad_w, grad_b = model.fc.weight.grad, model.fc.bias.grad
    hand_w, hand_b = hand_gradients(input_data, output, target_output)
    block = Block("3. loss.backward(): the gradients by autograd, and derived by hand")
    block.line("fc.weight.grad = %s" % show_fc(grad_w))
    block.line("by hand, 2/n (out - t)^T x = %s" % show_fc(hand_w))
    block.line("fc.bias.grad = %s" % show_fc(grad_b))
    block.line("by hand, 2/n (out - t) = %s" % show_fc(hand_b))
    block.line("n = output.numel() = %d: MSELoss averages over the output's elements, so each gets 2/n" % output.numel())
    dw, db = max_abs_diff(grad_w, hand_w), max_abs_diff(grad_b, hand_b)
    block.line("largest difference autograd - hand: weight %s, bias %s" % (fmt_value(dw, 10), fmt_value(db, 10)))
    block.line("backward() only fills .grad: the parameters have not changed yet.")
    block.tensor("weight.grad", grad_w).tensor("bias.grad", grad_b)
    block.tensor("weight.grad by hand", hand_w).tensor("bias.grad by hand", hand_b)
    return block


def sgd_step(model, old, lr):
    """4. optimizer.step(): the parameters before (`old`, copied before the step) and after."""
    weight, bias = model.fc.weight, model.fc.bias
    grad_w, grad_b = weight.grad, bias.grad
    old_w, old_b = old
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
    block.line("step() computes param + (-lr) * grad with one rounding (fused); the expression rounds lr * grad first, then the difference: the last bit may differ")
    block.tensor("weight after", weight).tensor("bias after", bias)
    block.value("step exact", exact).value("step close", close)
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


def value_and_grad(f, x):
    """f(x) and d sum(f(x)) / dx by autograd, on a fresh leaf copy of x."""
    x = x.detach().requires_grad_()
    y = f(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


class LastLoss(softmax_regression.Observer):
    """The last epoch's loss of the lesson's training (lesson/softmax_regression.py)."""

    def epoch(self, epoch, train_l):
        self.last = train_l


def train_linear_net(seed, epochs, lr, samples, logits, device):
    """The lesson's training loop (as in softmax()), its print silent: the last loss and the
    accuracy on the training data."""
    last = LastLoss()
    net, X, target = softmax_regression.train(seed=seed, samples=samples, epochs=epochs, lr=lr, logits=logits,
                                              device=device, observer=last, file=Silent())
    with torch.no_grad():
        accuracy = (net(X).argmax(1) == target).float().mean().item()
    return last.last.item(), accuracy


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
    sig, sig_g = value_and_grad(activation_functions.sigmoid, x)
    th, th_g = value_and_grad(activation_functions.tanh, x)
    re, re_g = value_and_grad(activation_functions.relu, x)
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
    odd_gap = scalar((activation_functions.tanh(x.neg()) + th).abs().max())
    tanh0 = scalar(activation_functions.tanh(torch.zeros(1, device=x.device)))
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
        out = activation_functions.relu(z)
        out.sum().backward()
        return z.detach(), out.detach(), w.grad, b.grad

    z, out, wg, bg = unit([-0.5, -1.0], -0.2)
    block.line("x = %s (4 positive inputs), w = [[-0.5000, -1.0000]], b = [-0.2000]" % fmt_tensor(batch, 4))
    block.line("z = x w^T + b = %s (all negative)" % fmt_tensor(z, 4))
    block.line("relu(z) = %s" % fmt_tensor(out, 4))
    block.line("relu(z).sum().backward(): w.grad = %s, b.grad = %s" % (fmt_tensor(wg, 4), fmt_tensor(bg, 4)))
    block.line("no gradient reaches w or b for this batch, so SGD does not change them: the unit is dead for this batch")
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
    p = activation_functions.softmax(z, 1)
    sums = p.sum(1)
    sum_gap = scalar((sums - 1.0).abs().max())
    block.line("z = randn(4, 5) * 3 (seed %d); p = softmax(z, dim=1):" % seed)
    for row in range(4):
        block.line("  %s" % fmt_tensor(p[row], 4))
    block.line("row sums = %s; largest |sum - 1| = %s" % (fmt_tensor(sums, 6), fmt_value(sum_gap, 10)))
    shifted = activation_functions.softmax(z + 100.0, 1)
    shift_gap = scalar((shifted - p).abs().max())
    block.line("softmax(z + 100) vs softmax(z): largest difference %s (a constant added to every score changes nothing: equal up to float rounding)"
               % fmt_value(shift_gap, 10))
    large = torch.tensor([1000.0, 1001.0, 1002.0], device=device)
    stable = activation_functions.softmax(large, 0)
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
    by_hand = activation_functions.cross_entropy_by_hand(logits, one_hot)
    nll = activation_functions.log_softmax_nll(logits, labels)
    ce = activation_functions.cross_entropy(logits, labels)
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
    bce = activation_functions.binary_cross_entropy
    bce_logits = activation_functions.binary_cross_entropy_with_logits
    unfused, fused = scalar(bce(zb, yb)), scalar(bce_logits(zb, yb))
    block.line("z = [0.5, -1.2, 2.0, -0.3], y = [1, 0, 1, 1]")
    block.line("binary_cross_entropy(sigmoid(z), y):  %s" % fmt_value(unfused, 8))
    block.line("binary_cross_entropy_with_logits(z, y): %s" % fmt_value(fused, 8))
    block.line("difference: %s" % fmt_value(abs(unfused - fused), 10))
    zl = torch.tensor([30.0, -40.0, 200.0], device=device)
    yl = torch.tensor([0.0, 1.0, 0.0], device=device)
    by_hand = activation_functions.binary_cross_entropy_by_hand(zl, yl)
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
    best = activation_functions.cross_entropy(one_hot, labels)
    block.line("on probabilities p in [0, 1] the loss is at least log(e + K - 1) - 1 = %s for K = 3 classes" % fmt_value(bound, 6))
    block.line("even a perfect one-hot p only reaches %s: the loss can never be 0" % fmt_value(scalar(best), 6))
    zl = logits.detach().requires_grad_()
    (g_logits,) = torch.autograd.grad(activation_functions.cross_entropy(zl, labels), zl)
    double = activation_functions.cross_entropy(activation_functions.softmax(zl, 1), labels)
    (g_double,) = torch.autograd.grad(double, zl)
    norm = lambda g: scalar(g.pow(2).sum().sqrt())
    n_logits, n_double = norm(g_logits), norm(g_double)
    block.line("gradient norm w.r.t. the scores: %s on the logits, %s through the extra softmax (%s times smaller)"
               % (fmt_value(n_logits, 6), fmt_value(n_double, 6), fmt_value(n_logits / n_double, 2)))
    block.line("training the lesson's LinearNet for %d epoch%s (seed 7, lr 0.1, 7 samples):"
               % (epochs, "" if epochs == 1 else "s"))
    for logits_mode, what in [(False, "the lesson, softmax then CrossEntropyLoss"), (True, "--logits, CrossEntropyLoss on the logits")]:
        last, accuracy = train_linear_net(7, epochs, 0.1, 7, logits_mode, device)
        block.line("  %s: final loss %s, accuracy %s" % (what, f4(last), f4(accuracy)))
        key = "logits" if logits_mode else "double softmax"
        block.number(key + " final loss", last).number(key + " accuracy", accuracy)
    block.line("the 7 labels are random (torch.randint): the accuracy is how well the net memorises these 7 samples, not a skill that generalises")
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


def load_dataset(data_dir, name):
    """The CSV that scripts/make_datasets.py writes: a header, then features and the label; every
    field checked as src/io/dataset.rs checks it, with the same messages."""
    import csv
    import io
    file, features, classes = DATASETS[name]
    path = os.path.join(data_dir, file)
    try:
        os.lstat(path)
    except FileNotFoundError:  # only a missing file: an unsearchable folder is its OS error
        sys.exit(f"error: {path} not found: {HOW_TO_MAKE}")
    except OSError:
        pass
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
            if math.isinf(struct_float32(v)):  # rounded once to float32, as the data will be
                sys.exit(f"error: {path} line {line}, column {col}: '{field}' is out of float32's range")
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


def stratified_split(y, classes, test_fraction, checkpoint=None):
    """For each class in order, a randperm of its samples; the first round-half-up(n * f) test.
    CHECKPOINT: the file the fraction came from, if no option gave it (then it is at fault)."""
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
        empty = f"{test_fraction!r} leaves an empty {'training' if train.numel() == 0 else 'test'} set"
        if checkpoint is not None:  # as src/programs/classify.rs Split::new: status 1
            sys.exit(f"error: checkpoint {checkpoint}: its test_fraction {empty}")
        # How the program was called: a usage error (status 2), as src/io/dataset.rs says.
        print(f"error: --test-fraction {empty}", file=sys.stderr)
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

    # clap's conflict, in the order the options were given: the first of them that conflicts
    # names what it conflicts with (a value equal to the default, `--momentum 0`, is given too).
    given = [name for name in getattr(args, "_given_order", [])
             if name == "evaluate" or name in CLASSIFY_TRAINING]
    if args.evaluate and len(given) > 1:
        if given[0] == "evaluate":
            shown = [CLASSIFY_TRAINING[name][0] for name in given[1:]]
            usage(f"the argument '--evaluate' cannot be used with '{shown[0]}'" if len(shown) == 1
                  else "the argument '--evaluate' cannot be used with: " + " ".join(shown))
        usage(f"the argument '{CLASSIFY_TRAINING[given[0]][0]}' cannot be used with '--evaluate'")
    if (args.evaluate or args.plain_checkpoint) and args.load is None:
        usage("the following required arguments were not provided: --load <FILE>")
    for name, (shown, default) in CLASSIFY_TRAINING.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def classify(args):
    """The program in the order of src/programs/classify.rs run, function for function."""
    classify_usage(args)
    device = parse_device(args.device)
    checkpoint = read_checkpoint(args.load, device) if args.load is not None else None
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
    from_checkpoint = args.load if args.test_fraction is None and args.load is not None else None
    train_idx, test_idx = stratified_split(y, classes, test_fraction, from_checkpoint)
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
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past serde_json's limit too
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
    except (OSError, ValueError, AttributeError, RecursionError):
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


def main():
    patient_stdout()
    sys.argv = clap_argv(sys.argv)
    parser = ClapLikeParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="program", required=True)
    add_softmax_parser(sub)
    add_autograd_parser(sub)
    add_fc_parser(sub)
    add_activations_parser(sub)
    add_classify_parser(sub)
    for program in sub.choices.values():
        program.add_argument("-V", "--version", action=Version)
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
    # A signal ends the run with one line; `reference.py ... | head` ends quietly (twin/signals.py).
    run_until_stopped(lambda: args.run(args))


if __name__ == "__main__":
    one_line_exit(main)
