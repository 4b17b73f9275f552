"""Shared machinery of the berth-against-berth benchmarks (bench/encryption.py,
bench/scaleout.py): two configurations of berth, the same cells of compare.py run against both
alternately with one berth-bench client, medians, a table with their ratio, and the
bench/results/<stem>.{md,json} outputs."""
import json
import os
import time

import compare as C


def add_args(ap):
    """The options both scripts take."""
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--only", help="comma list of cell names (e.g. pull)")
    ap.add_argument("--build-dir", default=os.path.join(C.ROOT, "build-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--berth-bin")
    ap.add_argument("--bench-bin")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=C.DEFAULT_OUT)


def prepare(args, cells):
    """Builds unless --no-build; returns (berth_bin, bench_bin, concurrencies, cells to run)."""
    if not args.no_build:
        C.build(args.build_dir, 0)
    berth_bin = args.berth_bin or os.path.join(args.build_dir, "berth")
    bench_bin = args.bench_bin or os.path.join(args.build_dir, "bench", "berth-bench")
    concs = [int(x) for x in args.concurrency.split(",")]
    if args.only:
        cells = [c for c in cells if c["name"] in args.only.split(",")]
    return berth_bin, bench_bin, concs, cells


def run(regs, cells, concs, args, bench_bin, push_mib_s, skip=lambda c, conc: False):
    """Runs every cell at every concurrency against each registry of `regs` (name → started
    Registry) in turn, --repeats times; returns the rows with per-variant medians.
    `push_mib_s`: the slowest expected push rate, for the run timeout."""
    rows = []
    t0 = time.time()
    for c in cells:
        for conc in concs:
            if C.run_bytes(c, conc) >= 4 * C.GiB or skip(c, conc):
                continue
            row = dict(name=c["name"], param=c["param"], kind=c["kind"], concurrency=conc,
                       runs={}, summary={})
            for _ in range(args.repeats):
                for name, reg in regs.items():
                    if C.needs_fresh(reg, c, conc, args.duration):
                        reg.restart()
                    os.sync()
                    timeout = 120 + args.duration * 4 + c["size"] * conc / (push_mib_s * C.MiB)
                    r = C.run_bench(bench_bin, reg, c, conc, args.duration, args.threads, timeout)
                    reg.check_alive(c["name"])
                    row["runs"].setdefault(name, []).append(r)
            for name in regs:
                row["summary"][name] = C.summarize(row["runs"].get(name, []), c["kind"])
            figures = " ".join(f"{name} {C.fmt(s and s['figure'])}"
                               for name, s in row["summary"].items())
            C.log(f"{c['name']:>14} {c['param']:>16} c={conc:<3} {figures} "
                  f"[{time.time() - t0:.0f}s]")
            rows.append(row)
    return rows


def table(rows, a, b, short_a, short_b):
    """Markdown: each figure of variants a and b, and the ratio a/b."""
    lines = [f"| scenario | param | c | unit | {a} | {b} | {short_a}/{short_b} | p99 ms {short_a} | "
             f"p99 ms {short_b} | CPU {short_a} | CPU {short_b} | CPU unit | RSS MiB {short_a} | "
             f"RSS MiB {short_b} | errors |", "|" + "---|" * 15]
    for row in rows:
        x, y = row["summary"].get(a), row["summary"].get(b)
        unit = "MiB/s" if row["kind"] == "bw" else "ops/s"
        cpu_unit = "s/GiB" if row["kind"] == "bw" else "s/1k ops"
        ratio = x["figure"] / y["figure"] if x and y and y["figure"] else None

        def g(s, k, digits=None):
            return C.fmt(s[k], digits) if s else "—"
        errors = sum(s["errors"] for s in (x, y) if s)
        lines.append(f"| {row['name']} | {row['param']} | {row['concurrency']} | {unit} | "
                     f"{g(x, 'figure')} | {g(y, 'figure')} | "
                     f"{('%.2f×' % ratio) if ratio else '—'} | {g(x, 'p99_ms')} | "
                     f"{g(y, 'p99_ms')} | {g(x, 'cpu', 3)} | {g(y, 'cpu', 3)} | {cpu_unit} | "
                     f"{g(x, 'rss_peak_mib', 0)} | {g(y, 'rss_peak_mib', 0)} | {errors} |")
    return "\n".join(lines)


def write(out_dir, stem, text, meta, rows):
    """Writes <out_dir>/<stem>.md (the text) and <stem>.json (meta and rows, no samples)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(text)
    for row in rows:
        for runs in row["runs"].values():
            for r in runs:
                r.pop("samples", None)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(dict(meta=meta, cells=rows), f, indent=1)
