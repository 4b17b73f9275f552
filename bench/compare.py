#!/usr/bin/env python3
"""Compare berth with CNCF Distribution (Debian `docker-registry`) on loopback.

One command:  bench/compare.py            (full: every scenario x concurrency 1,4,16,64)
              bench/compare.py --quick    (smoke run, a few minutes)

It builds berth and berth-bench (Release, -DBERTH_BUILD_BENCH=ON) in build-bench/, starts both
registries with fresh data directories, runs every cell against berth and Distribution
alternately (berth, distribution, berth, ...) --repeats times, takes medians, and writes
bench/results/latest.{json,md} and bench/results/throughput.png. See bench/README.md.

Python standard library only; matplotlib (Debian python3-matplotlib) for the plot, installed
with apt-get when missing and possible, else the plot is skipped.
"""

import argparse
import datetime
import importlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024
GiB = 1024 * MiB
REGISTRIES = ("berth", "distribution")
DEFAULT_OUT = os.path.join(ROOT, "bench", "results")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The matrix. kind: "bw" reports MiB/s and server CPU-s per GiB; "ops" ops/s and CPU-s per 1k ops.

def cell(name, scenario, param, kind, args, size=0, push=False):
    return dict(name=name, scenario=scenario, param=param, kind=kind, args=args, size=size,
                push=push)


def full_matrix(tags=10000):
    cells = []
    for s in (1, 16, 128):
        cells.append(cell("push-mono", "push-mono", f"{s} MiB", "bw",
                          ["--size", f"{s}MiB", "--push-mode", "patch"], s * MiB, push=True))
    cells.append(cell("push-mono single-POST", "push-mono", "16 MiB", "bw",
                      ["--size", "16MiB", "--push-mode", "single"], 16 * MiB, push=True))
    cells.append(cell("push-chunked", "push-chunked", "64 MiB / 8 MiB", "bw",
                      ["--size", "64MiB", "--chunk", "8MiB"], 64 * MiB, push=True))
    for s in (1, 16, 128):
        cells.append(cell("pull", "pull", f"{s} MiB", "bw", ["--size", f"{s}MiB"], s * MiB))
    cells.append(cell("head-blob", "head-blob", "", "ops", ["--size", "1MiB"]))
    cells.append(cell("manifest-put", "manifest-put", "", "ops", []))
    cells.append(cell("manifest-get", "manifest-get", "", "ops", []))
    cells.append(cell("manifest-head", "manifest-head", "", "ops", []))
    k = f"{tags // 1000}k" if tags % 1000 == 0 else str(tags)
    cells.append(cell("tags-list", "tags-list", f"n=100 of {k}", "ops",
                      ["--page-size", "100", "--tags", str(tags)]))
    cells.append(cell("tags-list", "tags-list", f"all {k}", "ops",
                      ["--page-size", "0", "--tags", str(tags)]))
    cells.append(cell("mixed", "mixed", "5 layers, push 1 MiB", "bw", ["--size", "1MiB"],
                      MiB, push=True))
    return cells


def quick_matrix(tags=1000):
    """A smoke run: one cell per kind of path. Distribution takes ~40-100 s on this machine to
    accept 10,000 tags (setup, untimed but waited for), so quick mode lists 1,000 by default."""
    keep = {("push-mono", "16 MiB"), ("pull", "1 MiB"), ("pull", "16 MiB"), ("head-blob", ""),
            ("manifest-put", ""), ("manifest-get", ""), ("mixed", "5 layers, push 1 MiB")}
    return [c for c in full_matrix(tags)
            if (c["name"], c["param"]) in keep or c["name"] == "tags-list"]


# --------------------------------------------------------------------------------------------
# Registries.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, log_path, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited with {proc.returncode}; log {log_path}:\n"
                               + tail(log_path))
        try:
            with urllib.request.urlopen(url + "/v2/", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:
            if e.code == 401:  # up, and wants credentials
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout}s; log {log_path}:\n" + tail(log_path))


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


class Registry:
    """One registry process with its own data directory; restart() gives a fresh one."""

    def __init__(self, name, work, berth_bin, registry_bin, env=None):
        self.name = name
        self.env = env or {}  # extra environment for the server process
        self.work = work
        self.berth_bin = berth_bin
        self.registry_bin = registry_bin
        self.proc = None
        self.port = None
        self.creds = None
        self.generation = 0
        self.crashes = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self):
        return os.path.join(self.work, f"{self.name}-data")

    @property
    def log_path(self):
        return os.path.join(self.work, f"{self.name}-{self.generation}.log")

    def start(self):
        if os.path.exists(self.data_dir):
            shutil.rmtree(self.data_dir)
        os.makedirs(self.data_dir)
        self.generation += 1
        self.port = free_port()
        logf = open(self.log_path, "w")
        if self.name == "berth":
            cmd = [self.berth_bin, "serve", "--listen", f"127.0.0.1:{self.port}",
                   "--data-dir", self.data_dir, "--no-access-log", "--log-level", "warn"]
        else:
            cfg = os.path.join(self.work, "distribution.yml")
            with open(cfg, "w") as f:
                f.write("version: 0.1\n"
                        "log:\n  level: error\n"
                        "storage:\n"
                        f"  filesystem:\n    rootdirectory: {self.data_dir}\n"
                        "  delete:\n    enabled: true\n"
                        f"http:\n  addr: 127.0.0.1:{self.port}\n")
            cmd = [self.registry_bin, "serve", cfg]
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=dict(os.environ, **self.env))
        logf.close()
        wait_ready(self.url, self.proc, self.log_path)
        self.creds = self.read_creds()

    def read_creds(self):
        """berth with authentication writes the administrator's access key to
        <data-dir>/admin-credentials at first start; the OCI API takes it as HTTP Basic
        (key id : secret). Handed to berth-bench in its environment, never on a command line."""
        path = os.path.join(self.data_dir, "admin-credentials")
        if self.name != "berth" or not os.path.exists(path):
            return None
        key = secret = None
        with open(path) as f:
            for line in f:
                k, _, v = line.partition("=")
                if k.strip() == "aws_access_key_id":
                    key = v.strip()
                elif k.strip() == "aws_secret_access_key":
                    secret = v.strip()
        return f"{key}:{secret}" if key and secret else None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def check_alive(self, context):
        if self.proc.poll() is not None:
            msg = (f"{self.name} exited with {self.proc.returncode} during {context}; "
                   f"log tail:\n{tail(self.log_path)}")
            log("!! " + msg)
            self.crashes.append(msg)
            self.start()
            return False
        return True


# --------------------------------------------------------------------------------------------
# Running cells.

def run_bench(bench_bin, reg, c, conc, duration, threads, timeout):
    cmd = [bench_bin, c["scenario"], "--target", reg.url, "--concurrency", str(conc),
           "--duration", str(duration), "--server-pid", str(reg.proc.pid), "--json",
           "--threads", str(threads)] + c["args"]
    env = dict(os.environ)
    env.pop("BERTH_BENCH_CREDS", None)
    if reg.creds:
        env["BERTH_BENCH_CREDS"] = reg.creds
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.time() - t0
    if p.returncode not in (0, 1):
        return dict(failed=True, error=(p.stderr or p.stdout).strip()[-2000:], cmd=" ".join(cmd),
                    wall_s=wall)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(failed=True, error="unparsable output: " + p.stdout[-500:], cmd=" ".join(cmd),
                    wall_s=wall)
    r["failed"] = False
    r["wall_s"] = wall
    r["cmd"] = " ".join(cmd)
    return r


def run_bytes(c, conc):
    """Bytes a push run writes at least: every client finishes one blob."""
    return c["size"] * conc if c["push"] else 0


def needs_fresh(reg, c, conc, duration):
    """Push cells: start from an empty data directory when the last runs left much data, so the
    disk never fills and both registries write into similar directories."""
    if not c["push"]:
        return False
    return dir_bytes(reg.data_dir) > 2 * GiB or c["size"] * conc > 2 * GiB


def disk_needed(c, conc, duration):
    if not c["push"]:
        return 0
    # Every client finishes at least one blob; assume at most ~600 MiB/s otherwise.
    return int(max(c["size"] * conc, duration * 600 * MiB) * 1.25)


def median_of(runs, key):
    vals = [r[key] for r in runs if not r.get("failed")]
    return statistics.median(vals) if vals else None


def summarize(runs, kind):
    ok = [r for r in runs if not r.get("failed")]
    if not ok:
        return None
    s = dict(
        n=len(ok),
        mib_per_s=median_of(ok, "mib_per_s"),
        ops_per_s=median_of(ok, "ops_per_s"),
        p50_ms=statistics.median(r["latency_ms"]["p50"] for r in ok),
        p90_ms=statistics.median(r["latency_ms"]["p90"] for r in ok),
        p99_ms=statistics.median(r["latency_ms"]["p99"] for r in ok),
        cpu_per_gib=median_of(ok, "server_cpu_s_per_gib"),
        cpu_per_kop=median_of(ok, "server_cpu_s_per_kop"),
        rss_peak_mib=max(r["server_rss_peak_mib"] for r in ok),
        hwm_mib=max(r["server_hwm_mib"] for r in ok),
        client_cpu_s=median_of(ok, "client_cpu_s"),
        errors=sum(r["errors"] for r in ok) + (len(runs) - len(ok)),
        fallbacks=sum(r.get("fallbacks", 0) for r in ok),
        exhausted=any(r.get("exhausted") for r in ok),
    )
    s["figure"] = s["mib_per_s"] if kind == "bw" else s["ops_per_s"]
    s["cpu"] = s["cpu_per_gib"] if kind == "bw" else s["cpu_per_kop"]
    return s


# --------------------------------------------------------------------------------------------
# Output.

def fmt(v, digits=None):
    if v is None:
        return "—"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{digits}f}"


def table(results):
    head = ("| scenario | param | c | unit | berth | distribution | berth/dist | p50 ms berth | "
            "p50 ms dist | p99 ms berth | p99 ms dist | CPU berth | CPU dist | CPU unit | "
            "RSS MiB berth | RSS MiB dist | errors b/d |")
    lines = [head, "|" + "---|" * 17]
    for row in results:
        if row.get("skipped"):
            lines.append(f"| {row['name']} | {row['param']} | {row['concurrency']} | "
                         f"skipped: {row['skipped']} |" + " |" * 13)
            continue
        b, d = row["summary"].get("berth"), row["summary"].get("distribution")
        unit = "MiB/s" if row["kind"] == "bw" else "ops/s"
        cpu_unit = "s/GiB" if row["kind"] == "bw" else "s/1k ops"
        ratio = None
        if b and d and d["figure"]:
            ratio = b["figure"] / d["figure"]
        def g(s, k, digits=None):
            return fmt(s[k], digits) if s else "—"
        def e(s):
            if not s:
                return "fail"
            return str(s["errors"])
        lines.append(
            f"| {row['name']} | {row['param']} | {row['concurrency']} | {unit} | "
            f"{g(b, 'figure')} | {g(d, 'figure')} | "
            f"{('%.2f×' % ratio) if ratio else '—'} | {g(b, 'p50_ms')} | {g(d, 'p50_ms')} | "
            f"{g(b, 'p99_ms')} | {g(d, 'p99_ms')} | "
            f"{g(b, 'cpu', 3)} | {g(d, 'cpu', 3)} | {cpu_unit} | {g(b, 'rss_peak_mib', 0)} | "
            f"{g(d, 'rss_peak_mib', 0)} | {e(b)}/{e(d)} |")
    return "\n".join(lines)


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout.strip()
        except Exception:
            return ""
    dist_ver = out(["dpkg-query", "-W", "-f=${Version}", "docker-registry"])
    return dict(cpu=cpu, cores=os.cpu_count(), mem_mib=mem, kernel=platform.release(),
                os=out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
                berth_commit=out(["git", "rev-parse", "--short", "HEAD"]) +
                ("+dirty" if out(["git", "status", "--porcelain", "--", "src"]) else ""),
                distribution=f"docker-registry {dist_ver}",
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-matplotlib installs for this one


def has_matplotlib(python):
    if python == sys.executable:
        try:
            import matplotlib  # noqa: F401
            return True
        except ImportError:
            return False
    return subprocess.run([python, "-c", "import matplotlib"], capture_output=True).returncode == 0


def plot_python():
    """An interpreter that can import matplotlib, installing python3-matplotlib if needed."""
    candidates = [sys.executable]
    if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(SYSTEM_PYTHON) != \
            os.path.realpath(sys.executable):
        candidates.append(SYSTEM_PYTHON)
    for py in candidates:
        if has_matplotlib(py):
            return py
    if shutil.which("apt-get") and os.geteuid() == 0:
        log("installing python3-matplotlib with apt-get ...")
        r = subprocess.run(["apt-get", "install", "-y", "-q", "python3-matplotlib"],
                           capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode != 0:
            log("apt-get failed; no plot:\n" + r.stderr[-1000:])
            return None
        importlib.invalidate_caches()
        for py in candidates:
            if has_matplotlib(py):
                return py
    log("matplotlib not available (apt-get install python3-matplotlib); no plot")
    return None


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = {}
    for row in results:
        groups.setdefault((row["name"], row["param"], row["kind"]), []).append(row)
    n = len(groups)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, ((name, param, kind), rws) in zip(axes.flat, groups.items()):
        rws = sorted(rws, key=lambda r: r["concurrency"])
        for reg, style in (("berth", "o-"), ("distribution", "s--")):
            xs = [r["concurrency"] for r in rws if r["summary"].get(reg)]
            ys = [r["summary"][reg]["figure"] for r in rws if r["summary"].get(reg)]
            if xs:
                ax.plot(xs, ys, style, label=reg)
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["concurrency"] for r in rws])
        ax.set_xticklabels([str(r["concurrency"]) for r in rws])
        ax.set_title(f"{name} {param}".strip(), fontsize=10)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("MiB/s" if kind == "bw" else "ops/s")
        figs = [r["summary"][g]["figure"] for r in rws for g in REGISTRIES
                if r["summary"].get(g) and r["summary"][g]["figure"]]
        if figs and max(figs) / min(figs) > 20:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("berth vs CNCF Distribution — throughput vs concurrency (median of repeats)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_file(json_path, png_path):
    """Plots latest.json, in this interpreter or in one that has matplotlib."""
    py = plot_python()
    if py is None:
        return False
    if py == sys.executable:
        with open(json_path) as f:
            plot(json.load(f)["cells"], png_path)
        return True
    r = subprocess.run([py, os.path.abspath(__file__), "--plot-only", json_path, png_path])
    return r.returncode == 0


def write_outputs(out_dir, meta, results, crashes, update_readme):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(dict(meta=meta, cells=results, crashes=crashes), f, indent=1)
    md = [f"Run {meta['date']} on {meta['cpu']} ({meta['cores']} cores, "
          f"{meta['mem_mib'] // 1024} GiB RAM), {meta['os']}, kernel {meta['kernel']}; "
          f"berth {meta['berth_commit']} vs {meta['distribution']}; client and servers share "
          f"the machine."
          + (" berth gets HTTP Basic credentials on every request (it requires them), "
             "Distribution none." if meta.get("berth_auth") else ""),
          "",
          f"Command: `{meta['command']}` ({meta['mode']} mode: {meta['duration']} s per run, "
          f"median of {meta['repeats']} runs per registry, berth and Distribution alternating; "
          f"RSS is the largest VmRSS sampled during any of them).",
          "",
          table(results), ""]
    errs = []
    for row in results:
        for reg in REGISTRIES:
            for r in row["runs"].get(reg, []):
                if r.get("failed"):
                    errs.append(f"- {reg} {row['name']} {row['param']} c={row['concurrency']}: "
                                f"run failed: {r['error']}")
                for s in r.get("error_samples", [])[:3]:
                    errs.append(f"- {reg} {row['name']} {row['param']} "
                                f"c={row['concurrency']}: `{s}`")
                if r.get("fallbacks"):
                    errs.append(f"- {reg} {row['name']} {row['param']} c={row['concurrency']}: "
                                f"{r['fallbacks']} single-POST uploads answered 202 (no "
                                f"single-request upload: POST without the body, then the blob "
                                f"in a PUT, as the spec allows)")
                    break
    for c in crashes:
        errs.append("- crash: " + c.splitlines()[0])
    if errs:
        md += ["Errors and notes:", ""] + errs[:60] + [""]
    text = "\n".join(md)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text)
    if update_readme:
        readme = os.path.join(ROOT, "bench", "README.md")
        try:
            with open(readme) as f:
                content = f.read()
            begin, end = "<!-- results:begin -->", "<!-- results:end -->"
            i, j = content.index(begin), content.index(end)
            content = content[:i + len(begin)] + "\n" + text + "\n" + content[j:]
            with open(readme, "w") as f:
                f.write(content)
        except (OSError, ValueError):
            log("README.md has no results markers; not updated")
    return text


# --------------------------------------------------------------------------------------------

def build(build_dir, jobs):
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", "-DBERTH_BUILD_BENCH=ON",
                    "-DBERTH_BUILD_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    cmd = ["cmake", "--build", build_dir, "--target", "berth", "berth-bench"]
    if jobs:
        cmd += ["-j", str(jobs)]
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer cells, c=1,16, 1 s")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, help="seconds per run (default 2, quick 1)")
    ap.add_argument("--tags", type=int, help="tags-list repository size (default 10000, "
                    "quick 1000)")
    ap.add_argument("--concurrency", help="comma list (default 1,4,16,64; quick 1,16)")
    ap.add_argument("--only", help="comma list of cell names to run (e.g. pull,mixed)")
    ap.add_argument("--include-huge", action="store_true",
                    help="also run push cells that write --huge-gib or more per run "
                    "(128 MiB x 64 clients = 8 GiB)")
    ap.add_argument("--huge-gib", type=float, default=8.0)
    ap.add_argument("--long-gib", type=float, default=2.0,
                    help="push cells writing this much or more per run are measured "
                    "--long-repeats times (each run is long enough to be stable)")
    ap.add_argument("--long-repeats", type=int, default=1)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--jobs", type=int, default=0, help="build parallelism (default: cmake's)")
    ap.add_argument("--berth-bin", help="default BUILD_DIR/src/cli/berth")
    ap.add_argument("--bench-bin", help="default BUILD_DIR/bench/berth-bench")
    ap.add_argument("--registry-bin", default="docker-registry")
    ap.add_argument("--berth-encryption", choices=("off", "on"), default="off",
                    help="berth's encryption at rest (default off: like for like with "
                    "Distribution, which has none; bench/encryption.py measures on vs off)")
    ap.add_argument("--threads", type=int, default=2, help="client io threads")
    ap.add_argument("--work-dir", help="data directories and logs (default: a new temp dir)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--update-readme", action="store_true",
                    help="replace the results block of bench/README.md (default for a full run "
                    "of the default grid)")
    ap.add_argument("--plot-only", nargs=2, metavar=("JSON", "PNG"),
                    help="only plot an earlier latest.json")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite latest.md (and the README with --update-readme) and the plot "
                    "from OUT/latest.json without measuring")
    args = ap.parse_args()
    if args.plot_only:
        sys.exit(0 if plot_file(*args.plot_only) else 1)
    if args.render_only:
        with open(os.path.join(args.out, "latest.json")) as f:
            saved = json.load(f)
        print(write_outputs(args.out, saved["meta"], saved["cells"], saved.get("crashes", []),
                            args.update_readme))
        plot_file(os.path.join(args.out, "latest.json"), os.path.join(args.out, "throughput.png"))
        return

    duration = args.duration or (1.0 if args.quick else 2.0)
    concs = [int(x) for x in (args.concurrency or ("1,16" if args.quick else "1,4,16,64"))
             .split(",")]
    tags = args.tags or (1000 if args.quick else 10000)
    cells = quick_matrix(tags) if args.quick else full_matrix(tags)
    if args.only:
        wanted = set(args.only.split(","))
        cells = [c for c in cells if c["name"] in wanted or c["scenario"] in wanted]

    if not args.no_build:
        build(args.build_dir, args.jobs)
    berth_bin = args.berth_bin or os.path.join(args.build_dir, "src", "cli", "berth")
    if not os.path.exists(berth_bin):
        berth_bin = os.path.join(args.build_dir, "berth")
    bench_bin = args.bench_bin or os.path.join(args.build_dir, "bench", "berth-bench")
    for b in (berth_bin, bench_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"missing binary {b} (build it, or pass --berth-bin/--bench-bin)")
    if not shutil.which(args.registry_bin):
        sys.exit(f"{args.registry_bin} not found: apt-get install docker-registry")
    plot_python()  # install matplotlib up front rather than after a long run

    work = args.work_dir or tempfile.mkdtemp(prefix="berth-bench-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    berth_env = {"BERTH_ENCRYPTION_AT_REST": "true" if args.berth_encryption == "on" else "false"}
    regs = {"berth": Registry("berth", work, berth_bin, args.registry_bin, berth_env),
            "distribution": Registry("distribution", work, berth_bin, args.registry_bin)}
    meta = machine_info()
    meta.update(mode="quick" if args.quick else "full", duration=duration, repeats=args.repeats,
                concurrency=concs, command="bench/compare.py " + " ".join(sys.argv[1:]),
                berth_bin=berth_bin, bench_bin=bench_bin, work_dir=work,
                berth_encryption=args.berth_encryption)
    results = []
    t_start = time.time()
    try:
        for r in regs.values():
            r.start()
        meta["berth_auth"] = bool(regs["berth"].creds)
        log(f"berth {regs['berth'].url} (pid {regs['berth'].proc.pid}), distribution "
            f"{regs['distribution'].url} (pid {regs['distribution'].proc.pid}); work dir {work}")
        for c in cells:
            for conc in concs:
                need = disk_needed(c, conc, duration)
                row = dict(name=c["name"], scenario=c["scenario"], param=c["param"],
                           kind=c["kind"], concurrency=conc, runs={}, summary={})
                if run_bytes(c, conc) >= args.huge_gib * GiB and not args.include_huge:
                    log(f"-- skip {c['name']} {c['param']} c={conc}: writes "
                        f"{run_bytes(c, conc) / GiB:.0f} GiB per run (--include-huge)")
                    row["skipped"] = f"writes {run_bytes(c, conc) / GiB:.0f} GiB per run"
                    results.append(row)
                    continue
                if need and shutil.disk_usage(work).free < need + 2 * GiB:
                    log(f"-- skip {c['name']} {c['param']} c={conc}: needs ~{need / GiB:.1f} "
                        f"GiB free disk")
                    row["skipped"] = f"needs ~{need / GiB:.1f} GiB free disk"
                    results.append(row)
                    continue
                repeats = args.repeats
                if run_bytes(c, conc) >= args.long_gib * GiB:
                    repeats = min(repeats, args.long_repeats)
                row["repeats"] = repeats
                for rep in range(repeats):
                    for name in REGISTRIES:
                        reg = regs[name]
                        if needs_fresh(reg, c, conc, duration):
                            reg.restart()
                        os.sync()  # the other registry's dirty pages are not this run's cost
                        timeout = 120 + duration * 4 + c["size"] * conc / (50 * MiB)
                        try:
                            r = run_bench(bench_bin, reg, c, conc, duration, args.threads,
                                          timeout)
                        except subprocess.TimeoutExpired:
                            r = dict(failed=True, error=f"berth-bench timed out ({timeout:.0f}s)")
                        if not reg.check_alive(f"{c['name']} {c['param']} c={conc}"):
                            r = dict(failed=True, error="server crashed: " + reg.crashes[-1])
                        row["runs"].setdefault(name, []).append(r)
                        if r.get("failed"):
                            log(f"   {name}: FAILED {r['error'][:300]}")
                        elif r.get("errors"):
                            log(f"   {name}: {r['errors']} errors, e.g. "
                                f"{(r.get('error_samples') or [''])[0][:300]}")
                for name in REGISTRIES:
                    row["summary"][name] = summarize(row["runs"].get(name, []), c["kind"])
                b, d = row["summary"]["berth"], row["summary"]["distribution"]
                unit = "MiB/s" if c["kind"] == "bw" else "ops/s"
                log(f"{c['name']:>14} {c['param']:>22} c={conc:<3} berth {fmt(b and b['figure'])}"
                    f" dist {fmt(d and d['figure'])} {unit}  "
                    f"[{time.time() - t_start:.0f}s elapsed]")
                results.append(row)
    except KeyboardInterrupt:
        log("interrupted; writing what was measured")
    finally:
        for r in regs.values():
            r.stop()
    meta["elapsed_s"] = round(time.time() - t_start, 1)
    crashes = regs["berth"].crashes + regs["distribution"].crashes
    # A full run of the default grid replaces the README's table; partial runs only with
    # --update-readme.
    default_grid = not (args.quick or args.only or args.concurrency or args.duration or
                        args.tags or args.repeats != 3)
    text = write_outputs(args.out, meta, results, crashes,
                         args.update_readme or (default_grid and args.out == DEFAULT_OUT))
    png = os.path.join(args.out, "throughput.png")
    if results and plot_file(os.path.join(args.out, "latest.json"), png):
        log(f"plot: {png}")
    print(text)
    log(f"done in {meta['elapsed_s']:.0f}s; results in {args.out}")
    if not args.keep_work and not args.work_dir:
        # Unlinking thousands of small files takes tens of seconds on this disk: do not wait.
        subprocess.Popen(["rm", "-rf", work], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
