#!/usr/bin/env python3
"""Benchmarks: the Rust programs against libtorch driven from C++ (the floor) and against PyTorch,
all three on the same libtorch, run alternately in one run (Rust, C++, Python, then the next round
in a rotated order; a warm-up round first, then --rounds rounds) with the same thread count on every
side. Prints medians, min..max and the ratios Rust/C++ and Rust/Python, and writes them, the sweep's
picture (docs/benchmarks.png, drawn by the Rust program bench_plot) and the goals into
docs/benchmarks.md.

    .venv/bin/python scripts/bench.py [--rounds 5] [--threads 1,2] [--quick] [--no-doc]

Sides:
  Rust    target/release/bench (src/programs/bench.rs), softmax, classify
  C++     target/release/bench-twin, compiled here from scripts/bench_twin.cpp with scripts/cxx
          (the compiler torch-sys uses) against the same .libtorch; not part of cargo build
  Python  this script's --worker, scripts/reference.py
Before timing, the three sides print the losses of their first steps: they must be equal bit for
bit (the same work), or the run stops.

Workloads:
  lesson-step    the lesson's training step (7 x 4 -> 3, softmax, CrossEntropyLoss, .sum(), SGD),
                 time per step over many steps, measured inside each process, no loss read back
  kernel-step    softmax regression on 65536 x 784 -> 10 synthetic data, full batch, per step
  sweep          the kernel-step's training step over batch sizes 7 .. 65536, 4 and 784 features
  start-up       whole process, from launch to the first epoch's loss line (softmax --epochs 1),
                 with --device cpu and --device auto, and its peak RSS
  classify       `classify --dataset digits` end to end, and its peak RSS
  callgrind      instructions per lesson step, Rust and C++ (valgrind), when valgrind is installed
CUDA rows are measured when a GPU is present, else they say "not measured".

--quick (a first look, under two minutes on 2 cores): 1 thread, 2 rounds, fewer steps and sizes,
no callgrind; it writes its picture to target/bench/ and does not touch docs/benchmarks.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")  # --bin-dir changes it
TWIN_SRC = os.path.join(ROOT, "scripts", "bench_twin.cpp")
OUT = os.path.join(ROOT, "target", "bench")
PY = sys.executable
REFERENCE = os.path.join(ROOT, "scripts", "reference.py")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
PICTURE = os.path.join(ROOT, "docs", "benchmarks.png")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SIDES = ("rust", "c++", "python")

# Goals: (workload, device, ratio): largest ratio.
GOALS = {
    ("lesson-step", "cpu", "Rust/C++"): 1.03,
    ("kernel-step", "cpu", "Rust/C++"): 1.01,
    ("lesson-step", "cpu", "Rust/Python"): 0.25,
    ("kernel-step", "cpu", "Rust/Python"): 1.02,
    ("start-up", "cpu", "Rust/Python"): 0.2,
    ("start-up RSS", "cpu", "Rust/Python"): 0.6,
    ("lesson-step", "cuda", "Rust/C++"): 1.03,
    ("lesson-step", "cuda", "Rust/Python"): 0.4,
}
SWEEP_SIZES = [7, 16, 64, 256, 1024, 4096, 16384, 65536]
SWEEP_FEATURES = [4, 784]

# ---------------------------------------------------------------- the Python side of the step workloads
def worker(args):
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def make_step(rows):
        return lesson_step(device) if args.worker == "lesson-step" else kernel_step(device, rows, args.features)

    if args.losses:
        step = make_step(args.rows)
        print(json.dumps({"side": "python", "losses": [float(step()) for _ in range(args.losses)]}))
        return
    if args.worker == "sweep":
        sweep = []
        for rows, steps in parse_sizes(args.sizes):
            s, cpu = time_steps(make_step(rows), max(1, steps // 10), steps, args.windows, sync)
            sweep.append({"rows": rows, "steps": steps, "per_step_s": s, "cpu_per_step_s": cpu})
        print(json.dumps({"side": "python", "features": args.features, "threads": torch.get_num_threads(),
                          "sweep": sweep}))
        return
    per_step, cpu = time_steps(make_step(args.rows), args.warmup, args.steps, args.windows, sync)
    print(json.dumps({"side": "python", "per_step_s": per_step, "cpu_per_step_s": cpu, "steps": args.steps,
                      "threads": torch.get_num_threads(),
                      "method": "time.perf_counter around each window of steps after warm-up steps, the fastest window; no loss read back"}))


def time_steps(step, warmup, steps, windows, sync):
    # src/programs/bench.rs time_steps: `windows` equal windows, the fastest on the wall clock
    # counts, with its CPU time.
    for _ in range(warmup):
        step()
    windows = max(1, min(windows, steps))
    per_window = steps // windows
    best = (float("inf"), float("inf"))
    for _ in range(windows):
        sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(per_window):
            step()
        sync()
        wall = (time.perf_counter() - start) / per_window
        if wall < best[0]:
            best = (wall, (time.process_time() - cpu_start) / per_window)
    return best


def lesson_step(device):
    """The lesson's loop body (reference.softmax), without the print."""
    import torch
    from torch import nn

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import reference

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
        return l
    return step


def kernel_step(device, rows, features):
    """Softmax regression rows x features -> 10 on synthetic data, full batch."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.randn(rows, features).to(device)
    y = torch.randint(0, 10, (rows,)).to(device)
    model = nn.Linear(features, 10).to(device)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def step():
        l = loss(model(x), y)
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        return l
    return step


def parse_sizes(text):
    return [tuple(int(v) for v in item.split(":")) for item in text.split(",")]


# ---------------------------------------------------------------- building the C++ twin
def twin_command(out):
    lib = os.path.join(ROOT, ".libtorch", "lib")
    inc = os.path.join(ROOT, ".libtorch", "include")
    # The flags torch-sys (and build.rs's shims) compile with; -O3 as cargo's release profile
    # hands cc; the CPU libraries only, as the Rust binaries link.
    return [os.path.join(ROOT, "scripts", "cxx"), "-O3", "-g1", "-std=c++17", "-D_GLIBCXX_USE_CXX11_ABI=1",
            "-DGLOG_USE_GLOG_EXPORT", "-I", inc, "-I", os.path.join(inc, "torch", "csrc", "api", "include"),
            TWIN_SRC, "-o", out, "-L", lib, "-Wl,-rpath,$ORIGIN/../../.libtorch/lib", "-Wl,-rpath," + lib,
            "-ltorch_cpu", "-lc10"]


def build_twin():
    out = os.path.join(ROOT, "target", "release", "bench-twin")
    stamp = out + ".cmd"
    cmd = twin_command(out)
    fresh = (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(TWIN_SRC)
             and os.path.exists(stamp) and open(stamp).read() == json.dumps(cmd))
    if not fresh:
        print("compiling the C++ twin (scripts/bench_twin.cpp) ...", flush=True)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        with open(stamp, "w") as f:
            f.write(json.dumps(cmd))
    return out


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


def alternate(rounds, makers):
    """Runs makers[side]() for every side, round after round (round 0 is a warm-up and thrown
    away), rotating the order each round so that no side always runs first."""
    values = {side: [] for side in makers}
    sides = list(makers)
    for r in range(1 + rounds):
        k = r % len(sides)
        for side in sides[k:] + sides[:k]:
            v = makers[side]()
            if r > 0:
                values[side].append(v)
    return values


CALLGRIND_GROUPS = [  # (name, test on the function's name), the first that matches counts
    ("tch and torch-sys: the C functions, the Rust wrappers, the error slot",
     lambda f: f.startswith(("tch::", "<tch::", "torch_sys::")) or re.match(r"(atg|at|ato|ats|atc|atm)_\w+$", f)
     or f in ("get_and_reset_last_err", "read_and_clean_error")),
    ("the program's own code (Rust: lesson_torch; C++: the twin)",
     lambda f: f.startswith(("lesson_torch::", "<lesson_torch::", "(anonymous namespace)::", "bench::"))),
    ("the allocator: malloc, free, new, delete",
     lambda f: re.search(r"malloc|free|memalign|unlink_chunk|tcache|operator new|operator delete|sysmalloc", f)),
    ("libtorch and everything else (the same calls on both sides)", lambda f: True),
]


def callgrind_functions(path):
    """{function: exclusive instructions} from callgrind_annotate's list of functions."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+[^:]*:(.*?)(?: \[[^\]]*\])?$", line)
        if m:
            name = m.group(2).strip()
            out[name] = out.get(name, 0) + int(m.group(1).replace(",", ""))
    return out


def callgrind_per_step(cmd, env, steps):
    """Instructions per step, in all and by function: callgrind's count at 3*steps minus at steps,
    over 2*steps (start-up, set-up and warm-up cancel out)."""
    totals, functions = [], []
    for n in (steps, 3 * steps):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd,
                            "--steps", str(n), "--warmup", "10"],
                           cwd=ROOT, env=env, check=True, capture_output=True)
            text = open(out).read()
            totals.append(int(re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M).group(1)))
            functions.append(callgrind_functions(out))
    per = {f: (functions[1].get(f, 0) - functions[0].get(f, 0)) / (2 * steps)
           for f in set(functions[0]) | set(functions[1])}
    return {"total": (totals[1] - totals[0]) / (2 * steps), "functions": per}


def callgrind_groups(functions):
    groups = {name: 0.0 for name, _ in CALLGRIND_GROUPS}
    for f, n in functions.items():
        name = next(name for name, test in CALLGRIND_GROUPS if test(f))
        groups[name] += n
    return groups


def median(values):
    return statistics.median(values)


def fmt_time(s):
    if s < 1e-3:
        return "%.1f µs" % (s * 1e6)
    if s < 1:
        return "%.1f ms" % (s * 1e3)
    return "%.2f s" % s


def fmt_values(values, unit):
    fmt = fmt_time if unit == "time" else (lambda v: "%.0f MiB" % v)
    if not values:
        return "—"
    return f"{fmt(median(values))} ({fmt(min(values))}..{fmt(max(values))})"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="measured rounds after one warm-up round (5; 2 with --quick)")
    parser.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1 and the cores; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a first look: fewer steps, sizes and rounds; no doc written")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md and docs/benchmarks.png")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    parser.add_argument("--bin-dir", help="prebuilt binaries, the twin (bench-twin) included (default: build target/release)")
    parser.add_argument("--build-only", action="store_true", help="build the binaries and the C++ twin, and stop")
    parser.add_argument("--devices", default=None, help="comma-separated: cpu, cuda (default: cpu, and cuda when present)")
    parser.add_argument("--from-results", metavar="JSON",
                        help="write the report, the doc and the picture again from a run's results.json, measuring nothing")
    parser.add_argument("--worker", choices=["lesson-step", "kernel-step", "sweep"], help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=20000, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=65536, help=argparse.SUPPRESS)
    parser.add_argument("--features", type=int, default=784, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="", help=argparse.SUPPRESS)
    parser.add_argument("--losses", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--windows", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        args.threads = int(args.threads or 1)
        return worker(args)
    if args.from_results:
        return report_again(args)
    run = plan(args)
    if args.build_only:
        print(f"built: {os.path.relpath(BIN, ROOT)} and {os.path.relpath(run.twin, ROOT)}")
        return
    os.makedirs(OUT, exist_ok=True)
    check_same_work(run)
    measure_steps(run)
    measure_sweep(run)
    measure_processes(run)
    measure_instructions(run)
    explain_outliers(run)
    finish(run)


def threads_env(t):
    return dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))


def plan(args):
    """What this run measures, and with which binaries (built here unless --bin-dir)."""
    global BIN
    run = types.SimpleNamespace(args=args, started=time.perf_counter(), load_before=os.getloadavg())
    # The runner itself does not import torch: a child's peak RSS (ru_maxrss) starts from the
    # resident size of the process that forked it, which would then be torch's.
    run.info = json.loads(subprocess.run(
        [PY, "-c", "import json, torch; c = torch.cuda.is_available(); print(json.dumps({'version': "
         "torch.__version__, 'cuda': c, 'gpu': torch.cuda.get_device_name(0) if c else None}))"],
        capture_output=True, text=True, check=True).stdout)
    if args.bin_dir:
        BIN = os.path.abspath(args.bin_dir)
        missing = [b for b in ("bench", "softmax", "classify", "bench_plot")
                   if not os.access(os.path.join(BIN, b), os.X_OK)]
        if missing and not args.build_only:
            sys.exit(f"error: --bin-dir {args.bin_dir} has no program {', '.join(missing)} "
                     "(cargo build --release builds them into target/release)")
    run.rounds = args.rounds if args.rounds is not None else (2 if args.quick else 5)
    run.write_doc = not (args.no_doc or args.quick)
    if args.threads:
        run.threads = sorted({int(t) for t in args.threads.split(",")})
    else:
        run.threads = [1] if args.quick else sorted({1, os.cpu_count() or 1})
    run.has_cuda = run.info["cuda"]
    run.devices = ["cpu"] + (["cuda"] if run.has_cuda else [])
    if args.devices:
        run.devices = [d for d in args.devices.split(",") if d == "cpu" or run.has_cuda]
    run.cpu_rows = "cpu" in run.devices  # the sweep, start-up and classify run on the CPU
    if not args.bin_dir or args.build_only:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "bench", "--bin", "softmax",
                        "--bin", "classify", "--bin", "bench_plot"], cwd=ROOT, check=True)
    if args.bin_dir and os.path.exists(os.path.join(BIN, "bench-twin")):
        run.twin = os.path.join(BIN, "bench-twin")
    else:
        run.twin = build_twin()
    run.cmds = {"rust": [os.path.join(BIN, "bench")], "c++": [run.twin], "python": [PY, __file__, "--worker"]}
    # (timed steps, warm-up steps, windows): the fastest window counts on every side.
    run.steps = {"lesson-step": (2000, 200, 4) if args.quick else (20000, 1000, 5),
                 "kernel-step": (4, 1, 2) if args.quick else (20, 2, 5)}
    run.kernel_rows = 4096 if args.quick else 65536
    run.results = {"date": datetime.date.today().isoformat(), "rows": [], "sweep": [], "check": [],
                   "callgrind": {}, "info": run.info, "rounds": run.rounds, "argv": sys.argv[1:]}
    return run


def check_same_work(run):
    """1. The same work: the losses of the first steps, bit for bit, on every side and device."""
    checks = [("lesson-step", ["--losses", "100"]),
              ("kernel-step", ["--losses", "20", "--rows", "1024", "--features", "784"])]
    for device in run.devices:
        for workload, extra in checks:
            got = {side: run_json(run.cmds[side] + [workload, *extra, "--device", device, "--threads", "1"],
                                  threads_env(1))["losses"]
                   for side in SIDES}
            same = all(got[s] == got["rust"] for s in SIDES)
            n = len(got["rust"])
            line = (f"{workload} on {device}: the losses of the first {n} steps are equal bit for bit on the "
                    f"three sides (last: {got['rust'][-1]!r})" if same else
                    f"{workload} on {device}: the losses DIFFER (rust {got['rust'][-1]!r}, c++ {got['c++'][-1]!r}, "
                    f"python {got['python'][-1]!r})")
            print(line, flush=True)
            run.results["check"].append(line)
            if not same:
                sys.exit("error: the three sides do not do the same work")


def add_row(run, workload, device, t, unit, values, cpu=None):
    """A row of the table: dicts of workload, device, threads, unit, values{side: [...]}."""
    run.results["rows"].append({"workload": workload, "device": device, "threads": t, "unit": unit,
                                "values": values, "cpu": cpu})
    shown = ", ".join(f"{s} {fmt_values(v, unit).split(' (')[0]}" for s, v in values.items())
    print(f"{workload} {device} threads={t}: {shown}", flush=True)


def measure_steps(run):
    """2. The step workloads, every device and thread count."""
    for device in run.devices:
        for t in run.threads:
            for workload in ["lesson-step", "kernel-step"]:
                n, w, k = run.steps[workload]
                common = [workload, "--steps", str(n), "--warmup", str(w), "--windows", str(k), "--threads", str(t),
                          "--device", device]
                if workload == "kernel-step":
                    common += ["--rows", str(run.kernel_rows)]
                got = alternate(run.rounds, {side: (lambda side=side: run_json(run.cmds[side] + common, threads_env(t)))
                                             for side in SIDES})
                add_row(run, workload, device, t, "time", {s: [v["per_step_s"] for v in got[s]] for s in SIDES},
                        cpu={s: [v["cpu_per_step_s"] for v in got[s]] for s in SIDES})


def sweep_rounds(run):
    """Measured rounds of the sweep: at least 3 (the spread of a point needs them), 1 with --quick."""
    return 1 if run.args.quick else max(3, run.rounds)


def sweep_budget(run):
    """Seconds of timed steps per size and side (3 windows)."""
    return 0.03 if run.args.quick else 0.3


def measure_sweep(run):
    """3. The sweep: batch size 7 .. 65536, two widths, 1 thread on the CPU."""
    sizes = [7, 64, 1024, 16384, 65536] if run.args.quick else SWEEP_SIZES
    budget = sweep_budget(run)
    for features in SWEEP_FEATURES if run.cpu_rows else []:
        plan = ",".join(f"{n}:{max(6, min(3000, int(budget / (45e-6 + n * features * 1.8e-9))))}" for n in sizes)
        common = ["sweep", "--sizes", plan, "--features", str(features), "--windows", "3", "--threads", "1",
                  "--device", "cpu"]
        got = alternate(sweep_rounds(run),
                        {side: (lambda side=side: run_json(run.cmds[side] + common, threads_env(1))["sweep"])
                         for side in SIDES})
        # values[side][round][size]: each round ran the three sides one after the other.
        values = {side: [[p["per_step_s"] for p in r] for r in got[side]] for side in SIDES}
        cpu = {side: [[p["cpu_per_step_s"] for p in r] for r in got[side]] for side in SIDES}
        med = {side: [median([v[i] for v in values[side]]) for i in range(len(sizes))] for side in SIDES}
        run.results["sweep"].append({"features": features, "rows": sizes, "median_s": med, "values": values,
                                     "cpu_values": cpu})
        print(f"sweep {features} features: " + ", ".join(
            f"{n}: R/P {med['rust'][i] / med['python'][i]:.2f}" for i, n in enumerate(sizes)), flush=True)


def measure_processes(run):
    """4. Start-up, peak RSS, classify end to end."""
    for t in run.threads if run.cpu_rows else []:
        env = threads_env(t)
        for dev in ("cpu", "auto"):
            sc = {"rust": [os.path.join(BIN, "softmax"), "--epochs", "1", "--device", dev],
                  "c++": [run.twin, "softmax", "--epochs", "1", "--device", dev, "--threads", str(t)],
                  "python": [PY, REFERENCE, "softmax", "--epochs", "1", "--device", dev]}
            got = alternate(run.rounds, {side: (lambda side=side: run_process(sc[side], env, first_line_only=True))
                                         for side in SIDES})
            add_row(run, "start-up", dev, t, "time", {s: [v[0] for v in got[s]] for s in SIDES})
            add_row(run, "start-up RSS", dev, t, "MiB", {s: [v[1] for v in got[s]] for s in SIDES})
        cc = {"rust": [os.path.join(BIN, "classify"), "--dataset", "digits"],
              "python": [PY, REFERENCE, "classify", "--dataset", "digits"]}
        got = alternate(run.rounds, {side: (lambda side=side: run_process(cc[side], env)) for side in cc})
        for workload, i, unit in (("classify digits", 0, "time"), ("classify RSS", 1, "MiB")):
            add_row(run, workload, "cpu", t, unit, {"rust": [v[i] for v in got["rust"]], "c++": [],
                                                     "python": [v[i] for v in got["python"]]})


def measure_instructions(run):
    """5. Instruction counts (valgrind), lesson step, 1 thread."""
    if not run.cpu_rows or run.args.quick or run.args.no_callgrind or not shutil.which("valgrind"):
        return
    cg = run.results["callgrind"]
    for side in ("rust", "c++"):
        cg[side] = callgrind_per_step(run.cmds[side] + ["lesson-step", "--threads", "1"], threads_env(1), 1000)
    print(f"callgrind: rust {cg['rust']['total']:.0f}, c++ {cg['c++']['total']:.0f} instructions per lesson step",
          flush=True)


def sweep_outliers(sweep):
    """The sweep's points whose median Rust/C++ lies outside SWEEP_BAND: (features, rows, index)."""
    return [(s["features"], n, i) for s in sweep for i, n in enumerate(s["rows"])
            if not SWEEP_BAND[0] <= median(round_ratios(s, i, "c++")) <= SWEEP_BAND[1]]


def explain_outliers(run):
    """6. For each sweep point outside the band, the instructions per step of Rust and C++ at that
    point (callgrind, as for the lesson step): the same work or not, whatever the machine did."""
    if run.args.quick or run.args.no_callgrind or not shutil.which("valgrind"):
        return
    found = run.results["outliers"] = []
    for features, rows, i in sweep_outliers(run.results["sweep"]):
        per_step = next(s for s in run.results["sweep"] if s["features"] == features)["median_s"]["c++"][i]
        steps = max(10, min(1000, int(0.05 / per_step)))
        point = {"features": features, "rows": rows, "steps": steps}
        for side in ("rust", "c++"):
            cg = callgrind_per_step(run.cmds[side] + ["kernel-step", "--rows", str(rows), "--features",
                                                      str(features), "--threads", "1"], threads_env(1), steps)
            point[side] = cg["total"]
            point[side + " groups"] = callgrind_groups(cg["functions"])
        found.append(point)
        print(f"callgrind at N={rows} F={features}: rust {point['rust']:.0f}, c++ {point['c++']:.0f} "
              "instructions per step", flush=True)


def finish(run):
    """The results as JSON, the picture, the report on stdout and, unless --quick/--no-doc, in the doc."""
    results = run.results
    results["load"] = {"before": run.load_before, "after": os.getloadavg()}
    results["elapsed_s"] = time.perf_counter() - run.started
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    publish(run)


def publish(run):
    """The picture of the sweep, and the report on stdout and, unless --quick/--no-doc, in the doc."""
    results = run.results
    picture = PICTURE if run.write_doc else os.path.join(OUT, "benchmarks.png")
    if results["sweep"]:
        # bench_plot reads the sweep only (the callgrind listings make results.json large).
        sweep_json = os.path.join(OUT, "sweep.json")
        with open(sweep_json, "w") as f:
            json.dump({"sweep": results["sweep"]}, f)
        subprocess.run([os.path.join(BIN, "bench_plot"), sweep_json, picture],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    text = report(run)
    print()
    print(text)
    print(f"\n{results['elapsed_s']:.0f} s; picture {os.path.relpath(picture, ROOT)}")
    if run.write_doc:
        write_doc(text)
        print(f"written to {os.path.relpath(DOC, ROOT)}")


def report_again(args):
    """--from-results: the report, the doc and the picture of a finished run, from its results."""
    results = json.load(open(args.from_results))
    run = types.SimpleNamespace(args=types.SimpleNamespace(quick=False), results=results, info=results["info"],
                                has_cuda=results["info"]["cuda"], rounds=results["rounds"],
                                write_doc=not args.no_doc)
    sys.argv[1:] = results["argv"]
    os.makedirs(OUT, exist_ok=True)
    if "outliers" not in results:
        run.args.no_callgrind = args.no_callgrind
        run.cmds = {"rust": [os.path.join(BIN, "bench")], "c++": [os.path.join(BIN, "bench-twin")]}
        explain_outliers(run)
        with open(args.from_results, "w") as f:
            json.dump(results, f, indent=1)
    publish(run)


def write_doc(text):
    """Replaces what stands between the markers of docs/benchmarks.md."""
    doc = open(DOC).read() if os.path.exists(DOC) else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    before, rest = doc.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    # A temp file with a random name beside the doc, then a rename (as every writer here).
    fd, tmp = tempfile.mkstemp(prefix=".benchmarks.md.", suffix=".tmp", dir=os.path.dirname(DOC))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{before}{BEGIN}\n{text}\n{END}{after}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, DOC)
    except BaseException:
        os.unlink(tmp)
        raise


def ratio(values, side):
    if not values.get(side) or not values.get("rust"):
        return None
    return median(values["rust"]) / median(values[side])


def report(run):
    """The Markdown written to stdout and docs/benchmarks.md."""
    lines, verdicts = report_header(run), []
    lines += report_rows(run, verdicts)
    lines += report_instructions(run.results["callgrind"])
    lines += report_sweep(run)
    lines += report_goals(run, verdicts)
    return "\n".join(lines)


def report_header(run):
    results, cores = run.results, os.cpu_count() or 1
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    lb, la = results["load"]["before"], results["load"]["after"]
    shared = max(lb[0], la[0], lb[1], la[1]) > 0.5 * cores
    return [
        f"Run on {results['date']}: {cpu}, {cores} cores, {mem} GiB, torch {run.info['version']} on every side"
        f"{', GPU ' + run.info['gpu'] if run.has_cuda else ', no CUDA device'}; "
        f"{results['elapsed_s'] / 60:.1f} minutes.",
        f"Command: `.venv/bin/python scripts/bench.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
        f"({run.rounds} rounds after a warm-up round, the three sides alternately in a rotated order, same "
        f"OMP_NUM_THREADS and set_num_threads on every side).",
        f"Load average (1, 5 min) before the run {lb[0]:.2f}, {lb[1]:.2f}; after it {la[0]:.2f}, {la[1]:.2f}"
        + (f": the machine was shared with other work during the run (more than half of its {cores} cores busy), "
           "so single timings are noisy; the ratios of alternating runs are what counts." if shared else "."),
        "",
        "**The same work.** " + "; ".join(results["check"]) + ".",
    ]


def report_rows(run, verdicts):
    """The table of rows; appends (workload, device, threads, ratio name, goal, ratio, met, C++/Python,
    ratio in CPU time) to `verdicts` for every row that has a goal."""
    out = ["",
           "| workload | device | threads | Rust median (min..max) | C++ median (min..max) | Python median (min..max) | Rust/C++ | Rust/Python | C++/Python | in CPU time: Rust/C++, Rust/Python | goals |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in run.results["rows"]:
        v, cpu = row["values"], row.get("cpu")
        rc, rp = ratio(v, "c++"), ratio(v, "python")
        cp = median(v["c++"]) / median(v["python"]) if v.get("c++") and v.get("python") else None
        cpu_cell = f"{ratio(cpu, 'c++'):.3f}, {ratio(cpu, 'python'):.3f}" if cpu else "—"
        goals = []
        for name, r in (("Rust/C++", rc), ("Rust/Python", rp)):
            g = GOALS.get((row["workload"], row["device"], name))
            if g is not None and r is not None:
                met = r <= g
                goals.append(f"{name} ≤ {g:.2f}: {'met' if met else 'NOT met'}")
                rcpu = ratio(cpu, "c++" if name == "Rust/C++" else "python") if cpu else None
                verdicts.append((row["workload"], row["device"], row["threads"], name, g, r, met, cp, rcpu))
        out.append(f"| {row['workload']} | {row['device']} | {row['threads']} | {fmt_values(v['rust'], row['unit'])} | "
                   f"{fmt_values(v['c++'], row['unit'])} | {fmt_values(v['python'], row['unit'])} | "
                   f"{'—' if rc is None else '%.3f' % rc} | {'—' if rp is None else '%.3f' % rp} | "
                   f"{'—' if cp is None else '%.3f' % cp} | {cpu_cell} | {'; '.join(goals)} |")
    if not run.has_cuda:
        for workload in ("lesson-step", "kernel-step"):
            out.append(f"| {workload} | cuda | — | not measured | not measured | not measured | — | — | — | — | "
                       "no CUDA device on this machine |")
    out.append("")
    out.append("`start-up` with `--device auto` on a machine without an NVIDIA driver runs on the CPU and loads "
               "no CUDA library, so its rows equal the `cpu` rows up to noise" if not run.has_cuda else
               "`start-up` with `--device auto` loads CUDA support (libtorch_cuda) and runs on the GPU.")
    out[-1] += "; `classify` has no C++ twin (—)."
    return out


def report_instructions(cg):
    """Callgrind's counts per lesson step, by group and the functions that differ most."""
    if not cg:
        return []
    r, c = cg["rust"], cg["c++"]
    out = ["", "### Instructions per lesson step (callgrind)", "",
           f"valgrind's callgrind, 1 thread, the lesson step: the count at 3,000 steps minus the count at 1,000, "
           f"over 2,000 (start-up, set-up and warm-up cancel). **Rust {r['total']:,.0f}, C++ {c['total']:,.0f} "
           f"instructions per step: Rust/C++ {r['total'] / c['total']:.4f}** ({r['total'] - c['total']:+,.0f}).", "",
           "| where (exclusive instructions per step) | Rust | C++ | Rust − C++ |", "|---|---|---|---|"]
    gr, gc = callgrind_groups(r["functions"]), callgrind_groups(c["functions"])
    for name, _ in CALLGRIND_GROUPS:
        out.append(f"| {name} | {gr[name]:,.0f} | {gc[name]:,.0f} | {gr[name] - gc[name]:+,.0f} |")
    out += ["", "The functions whose counts differ most between the two sides:", "",
            "| function | Rust | C++ | Rust − C++ |", "|---|---|---|---|"]
    names = set(r["functions"]) | set(c["functions"])
    diff = sorted(names, key=lambda f: -abs(r["functions"].get(f, 0) - c["functions"].get(f, 0)))
    for f in diff[:12]:
        a, b = r["functions"].get(f, 0), c["functions"].get(f, 0)
        shown = f if len(f) <= 90 else f[:87] + "..."
        out.append(f"| `{shown.replace('|', '∣')}` | {a:,.0f} | {b:,.0f} | {a - b:+,.0f} |")
    return out


SWEEP_BAND = (0.97, 1.03)


def round_ratios(s, i, side, key="values"):
    """Rust's time over `side`'s at size i, one ratio per round (the sides of a round ran back to back)."""
    return [r[i] / o[i] for r, o in zip(s[key]["rust"], s[key][side])]


def fmt_spread(ratios):
    if len(ratios) == 1:
        return f"{ratios[0]:.3f}"
    return f"{median(ratios):.3f} ({min(ratios):.3f}..{max(ratios):.3f})"


def report_sweep(run):
    """The sweep's tables (medians, and each ratio's spread over the rounds), the points where Rust/C++
    leaves the band 0.97..1.03, and the batch size from which Python's overhead stops mattering."""
    sweep = run.results["sweep"]
    if not sweep:
        return []
    rounds = len(sweep[0]["values"]["rust"])
    out = ["", "### Cost as the batch grows (1 thread, CPU)", "",
           f"![time per step against batch size, Rust, C++ and Python](benchmarks.png)", "",
           "Softmax regression N x F -> 10 (the kernel-step's training step: `linear`, `cross_entropy`, "
           f"`zero_grad`, `backward`, SGD `step`), {rounds} alternating round{'s' if rounds > 1 else ''} per side "
           f"after a warm-up round, each of ~{sweep_budget(run):g} s of timed steps in 3 windows (the fastest "
           "counts) after a tenth as many warm-up steps. Times are medians over the rounds; a ratio is the "
           "median of the per-round ratios (the sides of a round ran back to back), with its min..max over "
           "the rounds, and the same ratio in CPU time."]
    outliers = []
    for s in sweep:
        f = s["features"]
        out += ["", f"**F = {f}**", "",
                "| N | Rust | C++ | Python | Rust/C++ (min..max) | in CPU time | Rust/Python (min..max) |",
                "|---|---|---|---|---|---|---|"]
        m = s["median_s"]
        for i, n in enumerate(s["rows"]):
            rc, rp = round_ratios(s, i, "c++"), round_ratios(s, i, "python")
            rc_cpu = round_ratios(s, i, "c++", "cpu_values") if "cpu_values" in s else None
            out.append(f"| {n:,} | {fmt_time(m['rust'][i])} | {fmt_time(m['c++'][i])} | {fmt_time(m['python'][i])} | "
                       f"{fmt_spread(rc)} | {'—' if rc_cpu is None else f'{median(rc_cpu):.3f}'} | {fmt_spread(rp)} |")
            if not SWEEP_BAND[0] <= median(rc) <= SWEEP_BAND[1]:
                inside = min(rc) <= SWEEP_BAND[1] and max(rc) >= SWEEP_BAND[0]
                outliers.append(f"N = {n:,}, F = {f}: {fmt_spread(rc)}"
                                + (" (some rounds inside the band)" if inside else " (outside in every round)"))
    out += ["", "**Rust/C++ outside 0.97..1.03:** " + ("; ".join(outliers) + "." if outliers else
                                                       f"none: every point's median is inside the band.")]
    explained = run.results.get("outliers") or []
    if explained:
        out += ["", "Instructions per step at those points (callgrind, 1 thread, as for the lesson step above), "
                "which do not depend on what else the machine does:", "",
                "| N | F | Rust | C++ | Rust/C++ | Rust − C++ | of which tch and torch-sys |", "|---|---|---|---|---|---|---|"]
        for p in explained:
            tch = p["rust groups"].get(CALLGRIND_GROUPS[0][0], 0) - p["c++ groups"].get(CALLGRIND_GROUPS[0][0], 0)
            out.append(f"| {p['rows']:,} | {p['features']} | {p['rust']:,.0f} | {p['c++']:,.0f} | "
                       f"{p['rust'] / p['c++']:.4f} | {p['rust'] - p['c++']:+,.0f} | {tch:+,.0f} |")
    sentence = []
    for s in sweep:
        m, sizes = s["median_s"], s["rows"]
        r = [m["rust"][i] / m["python"][i] for i in range(len(sizes))]
        # The first size from which on Python's step is within 10 % of Rust's at every larger size.
        at = next((sizes[i] for i in range(len(sizes)) if all(x >= 0.9 for x in r[i:])), None)
        if at is None:
            sentence.append(f"with {s['features']} features Python's overhead matters at every size measured "
                            f"(Rust/Python {r[-1]:.2f} at N = {sizes[-1]:,})")
        else:
            sentence.append(f"with {s['features']} features from N ≈ {at:,} on (Rust/Python ≥ 0.9 from there up)")
    return out + ["", "**Where Python's overhead stops mattering:** " + "; ".join(sentence) + "."]


def report_goals(run, verdicts):
    out = ["", "### Goals, as measured", "",
           "Judged on the wall-clock medians; the same ratio in CPU time (which leaves out the time a process "
           "waited for a core on a shared machine) beside it.", "",
           "| goal | measured (wall clock) | | in CPU time | the floor: C++/Python |", "|---|---|---|---|---|"]
    for workload, device, t, name, g, r, met, cp, rcpu in verdicts:
        floor = "%.3f" % cp if name == "Rust/Python" and cp is not None else ""
        incpu = "—" if rcpu is None else f"{rcpu:.3f} ({'met' if rcpu <= g else 'not met'})"
        out.append(f"| {workload} on {device}, {t} thread{'s' if t > 1 else ''}, {name} ≤ {g:.2f} | {r:.3f} | "
                   f"{'met' if met else 'NOT met'} | {incpu} | {floor} |")
    if not run.has_cuda:
        out.append("| lesson-step on a GPU, Rust/C++ ≤ 1.03 and Rust/Python ≤ 0.40 | no CUDA device | not measured | | |")
    return out


if __name__ == "__main__":
    main()
