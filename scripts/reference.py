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
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        sys.exit(f"error: cannot write {path}: {e.strerror}")


def positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not an integer")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def positive_finite(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a number")
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {v}")
    return v


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
    p.add_argument("--json", metavar="PATH", help="write a JSON trace to PATH (- for stdout)")
    p.set_defaults(run=softmax)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="program", required=True)
    add_softmax_parser(sub)
    args = parser.parse_args()
    try:
        args.run(args)
    except BrokenPipeError:
        # `reference.py ... | head`: end quietly, as the Rust programs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
