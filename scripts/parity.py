#!/usr/bin/env python3
"""Parity check: run each Rust program and scripts/reference.py with the same options and require
identical text and bit-identical numbers (losses, parameters, gradients) on the same device.

    .venv/bin/python scripts/parity.py [--bin-dir target/release] [--only NAME] [--cold] [-v]

Prints one line per configuration and a summary; exits 1 on any mismatch.
The Python side runs warm (scripts/twin/warm.py: each case in a fork of one process that has
imported torch, as `python scripts/reference.py ...` would run it; tests/warm.rs checks that both
print the same), except on CUDA; --cold starts a new interpreter for every case.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "scripts", "reference.py")
WARM = os.path.join(ROOT, "scripts", "twin", "warm.py")

# (program, options). Every configuration runs on the CPU; those marked cuda=True also run on
# the GPU when one is present. The Rust binary and the reference subcommand share the name.
CONFIGS = [
    ("softmax", [], True),
    ("softmax", ["--seed", "0"], False),
    ("softmax", ["--seed", "123", "--epochs", "200"], False),
    ("softmax", ["--lr", "0.5"], False),
    ("softmax", ["--lr", "0.001", "--epochs", "5"], False),
    ("softmax", ["--samples", "1"], False),
    ("softmax", ["--samples", "64", "--epochs", "100"], False),
    ("softmax", ["--samples", "1000", "--epochs", "20", "--lr", "1.5"], False),
    ("softmax", ["--logits"], True),
    ("softmax", ["--logits", "--seed", "3", "--lr", "0.3", "--epochs", "150"], False),
    ("autograd_demo", [], True),
    ("autograd_demo", ["--graph", "-"], False),
    ("fc_demo", [], True),
    ("fc_demo", ["--steps", "50"], False),
    ("fc_demo", ["--seed", "3", "--lr", "1e-05", "--steps", "3"], False),
    ("activations", [], True),
    ("activations", ["--points", "2"], False),
    ("activations", ["--points", "50", "--seed", "3", "--epochs", "200"], False),
    ("classify", ["--dataset", "digits"], True),
    ("classify", ["--dataset", "breast-cancer"], True),
    ("classify", ["--dataset", "digits", "--momentum", "0.9", "--weight-decay", "0.001",
                  "--batch-size", "100", "--epochs", "5", "--seed", "3"], False),
    ("classify", ["--dataset", "breast-cancer", "--momentum", "0.5", "--lr", "0.01",
                  "--test-fraction", "0.4", "--batch-size", "1", "--epochs", "3"], False),
    # Divergence watched with --allow-nan: the text must print nan, inf and -inf as Python does.
    ("softmax", ["--logits", "--lr", "3e38", "--allow-nan", "--epochs", "4"], False),
    ("softmax", ["--lr", "1e38", "--allow-nan", "--epochs", "6", "--samples", "16"], False),
    ("fc_demo", ["--lr", "10", "--steps", "120", "--allow-nan"], False),
    ("classify", ["--dataset", "breast-cancer", "--lr", "1e38", "--allow-nan", "--epochs", "2"], False),
    ("classify", ["--dataset", "digits", "--lr", "1e30", "--allow-nan", "--epochs", "2"], False),
    # {ckpt}: a checkpoint that the Rust program saves first (CHECKPOINT_RUN), which both sides
    # then evaluate, or train on from.
    ("classify", ["--load", "{ckpt}", "--evaluate"], True),
    ("classify", ["--load", "{ckpt}", "--epochs", "2", "--momentum", "0.9"], False),
]

# The training run whose checkpoint `{ckpt}` is: its data set, split and standardisation travel
# in the checkpoint's metadata.
CHECKPOINT_RUN = ["--dataset", "breast-cancer", "--seed", "3", "--test-fraction", "0.3", "--epochs", "3"]


def bits(v):
    return struct.pack("<d", v).hex()


def same_number(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return bits(float(a)) == bits(float(b))
    return a == b


def diff(a, b, path, out):
    """Collects (path, a, b) for every leaf where the two traces differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k == "torch_version":
                continue  # the build's "+cu130" suffix may differ; the release must not
            diff(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((f"{path} (length)", len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif not same_number(a, b):
        out.append((path, a, b))


def count_numbers(v):
    if isinstance(v, dict):
        return sum(count_numbers(x) for x in v.values())
    if isinstance(v, list):
        return sum(count_numbers(x) for x in v)
    return 1 if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)) else 0


def describe(problems):
    """The mismatch message: the first differing epoch, then the first values that differ."""
    first_epoch = next((p for p in problems if p[0].startswith("losses[")), None)
    where = ""
    if first_epoch:
        epoch = int(first_epoch[0][len("losses["):].split("]")[0]) + 1
        where = f"first differing epoch {epoch}: "
    shown = "; ".join(f"{p}: rust {x!r} != python {y!r}" for p, x, y in problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{where}{shown}{more}"


def self_test():
    """The check must see a one-ulp difference, name its epoch, and ignore the build suffix."""
    import copy
    a = {"torch_version": "2.11.0+cpu", "losses": [1.25, 0.5, 0.25], "final_grads": {"bias": [-0.0, 1e-8]}}
    b = copy.deepcopy(a)
    b["torch_version"] = "2.11.0+cu130"
    problems = []
    diff(a, b, "", problems)
    assert problems == [], problems
    b["losses"][1] = struct.unpack("<d", struct.pack("<q", struct.unpack("<q", struct.pack("<d", 0.5))[0] + 1))[0]
    b["final_grads"]["bias"][0] = 0.0  # -0.0 and 0.0 are different bits
    diff(a, b, "", problems)
    assert [p[0] for p in problems] == ["losses[1]", "final_grads.bias[0]"], problems
    assert describe(problems).startswith("first differing epoch 2: losses[1]"), describe(problems)
    print("parity: self-test passed (a one-ulp loss and a -0.0 gradient are caught)")


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


class Python:
    """How a case runs `reference.py`: warm through a server started here (it ends with this
    process: its stdin closes), or cold."""

    def __init__(self, warm):
        self.server = None
        if warm:
            self.address = f"@lesson-torch-parity-{os.getpid()}"
            self.server = subprocess.Popen([sys.executable, WARM, "serve", self.address], cwd=ROOT,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            if self.server.stdout.readline() != b"ready\n":
                sys.exit("parity: the warm reference server (scripts/twin/warm.py) did not start")

    def command(self, device):
        if self.server is None or device == "cuda":  # a fork may not use CUDA: cold there
            return [sys.executable, REFERENCE]
        return [sys.executable, "-I", "-S", WARM, "run", self.address, REFERENCE]


def check(bin_dir, program, options, verbose, python):
    """Returns (ok, message)."""
    with tempfile.TemporaryDirectory() as tmp:
        rust_json, py_json = os.path.join(tmp, "rust.json"), os.path.join(tmp, "python.json")
        if "{ckpt}" in options:
            ckpt = os.path.join(tmp, "checkpoint.safetensors")
            made = run([os.path.join(bin_dir, program), *CHECKPOINT_RUN, "--save", ckpt])
            if made.returncode != 0:
                return False, f"cannot make the checkpoint: {made.stderr.strip().splitlines()[-1:]}"
            options = [ckpt if o == "{ckpt}" else o for o in options]
        rust = run([os.path.join(bin_dir, program), *options, "--json", rust_json])
        py = run([*python.command(options[-1]), program, *options, "--json", py_json])
        for side, r in (("rust", rust), ("python", py)):
            if r.returncode != 0:
                return False, f"{side} exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"
        if rust.stdout != py.stdout:
            r_lines, p_lines = rust.stdout.splitlines(), py.stdout.splitlines()
            for i, (a, b) in enumerate(zip(r_lines, p_lines)):
                if a != b:
                    return False, f"text differs at line {i + 1}: rust {a!r} != python {b!r}"
            return False, f"text differs in length: rust {len(r_lines)} lines, python {len(p_lines)}"
        with open(rust_json) as f:
            a = json.load(f)
        with open(py_json) as f:
            b = json.load(f)
        problems = []
        diff(a, b, "", problems)
        if a.get("torch_version", "").split("+")[0] != b.get("torch_version", "").split("+")[0]:
            problems.insert(0, ("torch_version", a.get("torch_version"), b.get("torch_version")))
        if problems:
            return False, describe(problems)
        lines = len(rust.stdout.splitlines())
        graphs = graph_summary(a)
        return True, f"text identical ({lines} lines), {count_numbers(a)} numbers bit-identical{graphs}"


def graph_summary(trace):
    """autograd_demo's computation graphs (`graph NAME` values: nodes and edges as libtorch and
    grad_fn.next_functions give them), already compared with the rest of the trace: say so."""
    graphs = [v for block in trace.get("blocks", []) for k, v in block.get("values", {}).items()
              if k.startswith("graph ") and isinstance(v, dict)]
    if not graphs:
        return ""
    edges = sum(len(g.get("edges", [])) for g in graphs)
    return f", {len(graphs)} graphs identical ({edges} edges)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    parser.add_argument("--only", help="run only the configurations of this program")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--cold", action="store_true", help="a new Python interpreter for every case")
    parser.add_argument("--self-test", action="store_true", help="check that the comparison catches a one-bit difference")
    args = parser.parse_args()
    if args.self_test:
        return self_test()

    import torch  # only to ask whether a GPU is present

    has_cuda = torch.cuda.is_available()
    python = Python(warm=not args.cold)
    passed = failed = skipped = 0
    for program, options, on_cuda in CONFIGS:
        if args.only and program != args.only:
            continue
        devices = ["cpu"] + (["cuda"] if on_cuda else [])
        for device in devices:
            label = " ".join([program, *options, "--device", device])
            if device == "cuda" and not has_cuda:
                print(f"skip {label}: skipped: no CUDA device", flush=True)
                skipped += 1
                continue
            ok, message = check(args.bin_dir, program, [*options, "--device", device], args.verbose, python)
            print(f"{'ok  ' if ok else 'FAIL'} {label}: {message}", flush=True)
            passed += ok
            failed += not ok
    verdict = "every configuration bit-identical" if failed == 0 else "MISMATCH"
    print(f"parity: {verdict}")
    print(f"parity: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
