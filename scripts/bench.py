#!/usr/bin/env python3
"""Benchmarks: the Rust programs against PyTorch on the same libtorch, run alternately
(Rust, Python, Rust, Python, ...; a warm-up round first, then --rounds rounds) with the same
thread count on both sides. Prints a table of medians and min..max with the Rust/Python ratio,
and writes it into docs/benchmarks.md (between its bench markers).

    .venv/bin/python scripts/bench.py [--rounds 5] [--threads 1,2] [--quick]

Workloads:
  lesson-step    the lesson's training step (7 x 4 -> 3, softmax, CrossEntropyLoss, SGD), time per
                 step over many steps, measured inside each process, no loss read back
  kernel-step    softmax regression on 65536 x 784 -> 10 synthetic data, full batch, per step
  start-up       whole process, from launch to the first epoch's loss line (softmax --epochs 1),
                 and its peak RSS
  classify       `classify --dataset digits` end to end, and its peak RSS
CUDA rows are added when a GPU is present.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")  # --bin-dir changes it
PY = sys.executable
REFERENCE = os.path.join(ROOT, "scripts", "reference.py")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

TARGETS = {  # (workload, device): (what, largest Rust/Python ratio)
    ("lesson-step", "cpu"): 0.25,
    ("kernel-step", "cpu"): 1.02,
    ("start-up", "cpu"): 0.2,
    ("start-up RSS", "cpu"): 0.6,
    ("lesson-step", "cuda"): 0.4,
}


# ---------------------------------------------------------------- the Python side of the step workloads
def worker(args):
    import torch
    from torch import nn

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import reference

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    def time_steps(step):
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        for _ in range(args.warmup):
            step()
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        return (time.perf_counter() - start) / args.steps

    if args.worker == "lesson-step":
        # The lesson's loop body (reference.softmax), without the print.
        torch.manual_seed(7)
        X = torch.rand((7, 2, 2)).to(device)
        target = torch.randint(0, 2, (7,)).to(device)
        net = reference.LinearNet().to(device)
        loss = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

        def step():
            y_hat = net(X)
            l = loss(y_hat, target).sum()
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
    else:
        torch.manual_seed(0)
        x = torch.randn(args.rows, 784).to(device)
        y = torch.randint(0, 10, (args.rows,)).to(device)
        model = nn.Linear(784, 10).to(device)
        loss = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

        def step():
            l = loss(model(x), y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()

    per_step = time_steps(step)
    print(json.dumps({"side": "python", "per_step_s": per_step, "steps": args.steps,
                      "threads": torch.get_num_threads(),
                      "method": "time.perf_counter around the step loop after warm-up steps; no loss read back"}))


# ---------------------------------------------------------------- measuring
def run_json(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_process(cmd, env, first_line_only=False):
    """(seconds to the first stdout line or to the exit, peak RSS in MiB) of a whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    first = proc.stdout.readline()
    t_first = time.perf_counter() - start
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    t_exit = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not first:
        sys.exit(f"error: {' '.join(cmd)} failed with status {proc.returncode}")
    return (t_first if first_line_only else t_exit), usage.ru_maxrss / 1024.0


def summary(values):
    return statistics.median(values), min(values), max(values)


def fmt_time(s):
    if s < 1e-3:
        return "%.1f µs" % (s * 1e6)
    if s < 1:
        return "%.1f ms" % (s * 1e3)
    return "%.2f s" % s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds after one warm-up round")
    parser.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1 and the cores)")
    parser.add_argument("--quick", action="store_true", help="fewer steps, for a smoke test")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--bin-dir", help="prebuilt Rust binaries (default: build target/release)")
    parser.add_argument("--devices", default=None, help="comma-separated: cpu, cuda (default: cpu, and cuda when present)")
    parser.add_argument("--worker", choices=["lesson-step", "kernel-step"], help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=20000, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=65536, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = int(args.threads or 1)
        return worker(args)

    import torch

    global BIN
    if args.bin_dir:
        BIN = os.path.abspath(args.bin_dir)
    cores = os.cpu_count() or 1
    threads = sorted({int(t) for t in args.threads.split(",")}) if args.threads else sorted({1, cores})
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.devices:
        devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    if not args.bin_dir:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "bench", "--bin", "softmax",
                        "--bin", "classify"], cwd=ROOT, check=True)
    steps = {"lesson-step": (2000, 200) if args.quick else (20000, 1000),
             "kernel-step": (2, 1) if args.quick else (10, 2)}
    rows = []  # (workload, device, threads, rust values, python values, unit)

    def alternate(make_rust, make_python):
        rust, python = [], []
        for r in range(1 + args.rounds):
            a, b = make_rust(), make_python()
            if r > 0:  # round 0 warms the page cache and the CPU
                rust.append(a)
                python.append(b)
        return rust, python

    for device in devices:
        for t in threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
            for workload in ["lesson-step", "kernel-step"]:
                n, w = steps[workload]
                common = ["--steps", str(n), "--warmup", str(w), "--threads", str(t), "--device", device]
                if workload == "kernel-step":
                    common += ["--rows", str(4096 if args.quick else 65536)]
                rust, python = alternate(
                    lambda: run_json([os.path.join(BIN, "bench"), workload, *common], env)["per_step_s"],
                    lambda: run_json([PY, __file__, "--worker", workload, *common], env)["per_step_s"])
                rows.append((workload, device, t, rust, python, "time"))
                print(f"{workload} {device} threads={t}: rust {fmt_time(statistics.median(rust))}, "
                      f"python {fmt_time(statistics.median(python))}", flush=True)
            if device == "cpu":
                startup, rss = {"rust": [], "python": []}, {"rust": [], "python": []}
                classify, classify_rss = {"rust": [], "python": []}, {"rust": [], "python": []}
                cmds = {"rust": [os.path.join(BIN, "softmax"), "--epochs", "1"],
                        "python": [PY, REFERENCE, "softmax", "--epochs", "1"]}
                ccmds = {"rust": [os.path.join(BIN, "classify"), "--dataset", "digits"],
                         "python": [PY, REFERENCE, "classify", "--dataset", "digits"]}
                for r in range(1 + args.rounds):
                    for side in ("rust", "python"):
                        s, m = run_process(cmds[side], env, first_line_only=True)
                        cs, cm = run_process(ccmds[side], env)
                        if r > 0:
                            startup[side].append(s)
                            rss[side].append(m)
                            classify[side].append(cs)
                            classify_rss[side].append(cm)
                rows.append(("start-up", device, t, startup["rust"], startup["python"], "time"))
                rows.append(("start-up RSS", device, t, rss["rust"], rss["python"], "MiB"))
                rows.append(("classify digits", device, t, classify["rust"], classify["python"], "time"))
                rows.append(("classify RSS", device, t, classify_rss["rust"], classify_rss["python"], "MiB"))
                print(f"start-up and classify threads={t}: done", flush=True)

    table = ["| workload | device | threads | Rust median (min..max) | Python median (min..max) | Rust/Python | target |",
             "|---|---|---|---|---|---|---|"]
    for workload, device, t, rust, python, unit in rows:
        fmt = fmt_time if unit == "time" else (lambda v: "%.0f MiB" % v)
        rm, rlo, rhi = summary(rust)
        pm, plo, phi = summary(python)
        ratio = rm / pm
        target = TARGETS.get((workload, device))
        verdict = "" if target is None else ("≤ %.2f: met" % target if ratio <= target else "≤ %.2f: NOT met" % target)
        table.append(f"| {workload} | {device} | {t} | {fmt(rm)} ({fmt(rlo)}..{fmt(rhi)}) | "
                     f"{fmt(pm)} ({fmt(plo)}..{fmt(phi)}) | {ratio:.3f} | {verdict} |")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    header = [
        f"Run on {datetime.date.today().isoformat()}: {cpu}, {cores} cores, {mem} GiB, "
        f"torch {torch.__version__} on both sides{', GPU ' + torch.cuda.get_device_name(0) if 'cuda' in devices else ''}.",
        f"Command: `.venv/bin/python scripts/bench.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
        f"({args.rounds} rounds after a warm-up round, Rust and Python alternately, same OMP_NUM_THREADS "
        f"and torch.set_num_threads on both sides).",
        "",
    ]
    text = "\n".join(header + table)
    print()
    print(text)
    if not args.no_doc:
        doc = open(DOC).read() if os.path.exists(DOC) else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        if BEGIN not in doc:
            doc += f"\n{BEGIN}\n{END}\n"
        before, rest = doc.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        tmp = DOC + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{before}{BEGIN}\n{text}\n{END}{after}")
        os.replace(tmp, DOC)
        print(f"\nwritten to {os.path.relpath(DOC, ROOT)}")


if __name__ == "__main__":
    main()
