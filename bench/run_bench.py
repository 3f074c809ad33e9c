"""acnn vs PyTorch CPU eager on this machine, in one run.

Every configuration runs in its own subprocess (bench/acnn_step_bench for
acnn, bench/torch_step.py for PyTorch), with the same thread count, so times
and peak memory are measured the same way: the child's own report of the
median step time, and its peak resident set (ru_maxrss from wait4). Ratios
are computed from the numbers of this run. Writes bench/results/<stamp>.json
and bench/results/latest.json and prints a table.

    python3 bench/run_bench.py [--build build] [--python VENV/bin/python]
                               [--threads 2] [--only fashion|imagenet] [--steps N]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, acnn model file, PyTorch model, mode, batch, section)
CONFIGS = [
    ("fashion_baseline", "models/fashion/baseline.acnn", "fashion_baseline", "train", 128, "fashion"),
    ("fashion_assemble", "models/fashion/assemble.acnn", "fashion_assemble", "train", 128, "fashion"),
    ("resnet50", "models/resnet50.acnn", "resnet50", "train", 32, "imagenet"),
    ("resnet50", "models/resnet50.acnn", "resnet50", "eval", 32, "imagenet"),
    ("assemble_resnet50", "models/assemble_resnet50.acnn", "assemble_resnet50", "train", 32, "imagenet"),
    ("assemble_resnet50", "models/assemble_resnet50.acnn", "assemble_resnet50", "eval", 32, "imagenet"),
]


def run_child(cmd, timeout):
    """Runs cmd, returns (its JSON line, peak RSS in KiB from wait4, stderr tail)."""
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, 0, "timeout after %d s" % timeout
    # communicate() reaped the child; its rusage is folded into RUSAGE_CHILDREN,
    # so the child reports its own ru_maxrss in the JSON (same call for both engines).
    res = None
    for line in out.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
    return res, (res or {}).get("maxrss_kb", 0), err[-2000:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--python", default=os.environ.get("ACNN_BENCH_PYTHON", "python3"),
                    help="a Python with torch (default: $ACNN_BENCH_PYTHON or python3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["fashion", "imagenet"])
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default 5 fashion, 3 imagenet)")
    ap.add_argument("--timeout", type=int, default=1800)
    a = ap.parse_args()
    bench = os.path.join(ROOT, a.build, "bench", "acnn_step_bench")
    rows = []
    for name, file, tmodel, mode, batch, section in CONFIGS:
        if a.only and section != a.only:
            continue
        steps = a.steps or (5 if section == "fashion" else 3)
        warmup = 2 if section == "fashion" else 1
        common = ["--mode", mode, "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup),
                  "--threads", str(a.threads)]
        row = {"model": name, "mode": mode, "batch": batch, "section": section}
        for label, cmd in [
            ("acnn_unfused", [bench, "--model", file, "--fused", "0"] + common),
            ("acnn_fused", [bench, "--model", file, "--fused", "1"] + common),
            ("pytorch", [a.python, "bench/torch_step.py", "--model", tmodel] + common),
        ]:
            print("running %s %s %s ..." % (name, mode, label), file=sys.stderr, flush=True)
            res, rss, err = run_child(cmd, a.timeout)
            if res is None:
                print("  failed: %s" % err, file=sys.stderr)
            row[label] = res
        rows.append(row)
        print_table([row], header=len(rows) == 1)

    def ratio(r, x, y, key):
        if not r.get(x) or not r.get(y):
            return None
        return r[x][key] / r[y][key] if r[y][key] else None

    for r in rows:
        r["speedup_fused_vs_pytorch"] = ratio(r, "pytorch", "acnn_fused", "median_ms")
        r["speedup_unfused_vs_pytorch"] = ratio(r, "pytorch", "acnn_unfused", "median_ms")
        r["speedup_fused_vs_unfused"] = ratio(r, "acnn_unfused", "acnn_fused", "median_ms")
        r["rss_fused_over_pytorch"] = ratio(r, "acnn_fused", "pytorch", "maxrss_kb")
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "host": platform.node(), "cpu": cpu,
           "cores": os.cpu_count(), "threads": a.threads, "only": a.only, "load_avg": os.getloadavg(), "rows": rows}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    # A partial run (--only) does not replace the full run's latest.json.
    latest = "latest.json" if not a.only else "latest-%s.json" % a.only
    for path in [os.path.join(ROOT, "bench", "results", stamp + ".json"), os.path.join(ROOT, "bench", "results", latest)]:
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
    print("\nmachine: %s, %d cores, %d threads each, load %s" % (cpu, os.cpu_count(), a.threads,
                                                                 " ".join("%.1f" % x for x in os.getloadavg())))
    print_table(rows, header=True, ratios=True)


def print_table(rows, header, ratios=False):
    fmt = "%-18s %-5s %5s | %9s %9s %9s | %7s %7s %7s | %7s %7s %7s"
    if header:
        print(fmt % ("model", "mode", "batch", "unfused", "fused", "pytorch", "img/s", "img/s", "img/s",
                     "RSS MiB", "RSS MiB", "RSS MiB"))
        print(fmt % ("", "", "", "ms/step", "ms/step", "ms/step", "unfused", "fused", "pytorch", "unfused", "fused",
                     "pytorch"))
    for r in rows:
        def g(k, f, scale=1.0):
            return ("%.0f" % (r[k][f] * scale)) if r.get(k) else "-"
        print(fmt % (r["model"], r["mode"], r["batch"], g("acnn_unfused", "median_ms"), g("acnn_fused", "median_ms"),
                     g("pytorch", "median_ms"), g("acnn_unfused", "img_s"), g("acnn_fused", "img_s"),
                     g("pytorch", "img_s"), g("acnn_unfused", "maxrss_kb", 1 / 1024), g("acnn_fused", "maxrss_kb", 1 / 1024),
                     g("pytorch", "maxrss_kb", 1 / 1024)))
        if ratios:
            def p(k):
                return "%.2fx" % r[k] if r.get(k) else "-"
            print("    speed vs PyTorch: fused %s, unfused %s; fused vs unfused %s; peak RSS fused/PyTorch %s" % (
                p("speedup_fused_vs_pytorch"), p("speedup_unfused_vs_pytorch"), p("speedup_fused_vs_unfused"),
                p("rss_fused_over_pytorch")))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
