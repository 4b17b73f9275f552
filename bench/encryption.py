#!/usr/bin/env python3
"""Encryption at rest on versus off: berth against berth, in one run.

    bench/encryption.py [--no-build] [--repeats 3] [--duration 2] [--concurrency 1,16]

Starts two berth servers with fresh data directories — BERTH_ENCRYPTION_AT_REST=true (blobs
sealed in AES-256-GCM segments, decrypted on the blocking pool) and =false (plaintext,
zero-copy sendfile pulls) — and runs the push, pull and manifest cells of bench/compare.py
against both alternately, with the same berth-bench client. Prints a table (throughput,
latency, server CPU per GiB or per 1,000 ops, peak RSS, and encrypted/plaintext ratios) and
writes bench/results/encryption.{json,md}. Reuses compare.py's machinery.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

VARIANTS = ("encrypted", "plaintext")


class Berth(C.Registry):
    """A berth server whose data directory and log carry the variant's name."""

    def __init__(self, variant, work, berth_bin, at_rest):
        super().__init__("berth", work, berth_bin, None,
                         {"BERTH_ENCRYPTION_AT_REST": "true" if at_rest else "false"})
        self.variant = variant

    @property
    def data_dir(self):
        return os.path.join(self.work, f"{self.variant}-data")

    @property
    def log_path(self):
        return os.path.join(self.work, f"{self.variant}-{self.generation}.log")


def cells():
    keep = {("push-mono", "16 MiB"), ("push-mono", "128 MiB"), ("push-chunked", "64 MiB / 8 MiB"),
            ("pull", "1 MiB"), ("pull", "16 MiB"), ("pull", "128 MiB"), ("manifest-get", ""),
            ("manifest-put", "")}
    return [c for c in C.full_matrix(1000) if (c["name"], c["param"]) in keep]


def table(rows):
    lines = ["| scenario | param | c | unit | encrypted | plaintext | enc/plain | p99 ms enc | "
             "p99 ms plain | CPU enc | CPU plain | CPU unit | RSS MiB enc | RSS MiB plain | "
             "errors |", "|" + "---|" * 15]
    for row in rows:
        e, p = row["summary"].get("encrypted"), row["summary"].get("plaintext")
        unit = "MiB/s" if row["kind"] == "bw" else "ops/s"
        cpu_unit = "s/GiB" if row["kind"] == "bw" else "s/1k ops"
        ratio = e["figure"] / p["figure"] if e and p and p["figure"] else None

        def g(s, k, digits=None):
            return C.fmt(s[k], digits) if s else "—"
        errors = sum(s["errors"] for s in (e, p) if s)
        lines.append(f"| {row['name']} | {row['param']} | {row['concurrency']} | {unit} | "
                     f"{g(e, 'figure')} | {g(p, 'figure')} | "
                     f"{('%.2f×' % ratio) if ratio else '—'} | {g(e, 'p99_ms')} | "
                     f"{g(p, 'p99_ms')} | {g(e, 'cpu', 3)} | {g(p, 'cpu', 3)} | {cpu_unit} | "
                     f"{g(e, 'rss_peak_mib', 0)} | {g(p, 'rss_peak_mib', 0)} | {errors} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = ap.parse_args()
    if not args.no_build:
        C.build(args.build_dir, 0)
    berth_bin = args.berth_bin or os.path.join(args.build_dir, "berth")
    bench_bin = args.bench_bin or os.path.join(args.build_dir, "bench", "berth-bench")
    concs = [int(x) for x in args.concurrency.split(",")]
    todo = cells()
    if args.only:
        todo = [c for c in todo if c["name"] in args.only.split(",")]
    work = tempfile.mkdtemp(prefix="berth-enc-bench-", dir="/var/tmp")
    regs = {"encrypted": Berth("encrypted", work, berth_bin, True),
            "plaintext": Berth("plaintext", work, berth_bin, False)}
    meta = C.machine_info()
    meta.update(command="bench/encryption.py " + " ".join(sys.argv[1:]), repeats=args.repeats,
                duration=args.duration, concurrency=concs)
    rows = []
    t0 = time.time()
    try:
        for r in regs.values():
            r.start()
        for c in todo:
            for conc in concs:
                if C.run_bytes(c, conc) >= 4 * C.GiB:
                    continue
                row = dict(name=c["name"], param=c["param"], kind=c["kind"], concurrency=conc,
                           runs={}, summary={})
                for _ in range(args.repeats):
                    for name in VARIANTS:
                        reg = regs[name]
                        if C.needs_fresh(reg, c, conc, args.duration):
                            reg.restart()
                        os.sync()
                        timeout = 120 + args.duration * 4 + c["size"] * conc / (50 * C.MiB)
                        r = C.run_bench(bench_bin, reg, c, conc, args.duration, args.threads,
                                        timeout)
                        reg.check_alive(c["name"])
                        row["runs"].setdefault(name, []).append(r)
                for name in VARIANTS:
                    row["summary"][name] = C.summarize(row["runs"].get(name, []), c["kind"])
                e, p = row["summary"]["encrypted"], row["summary"]["plaintext"]
                C.log(f"{c['name']:>14} {c['param']:>16} c={conc:<3} encrypted "
                      f"{C.fmt(e and e['figure'])} plaintext {C.fmt(p and p['figure'])} "
                      f"[{time.time() - t0:.0f}s]")
                rows.append(row)
    finally:
        for r in regs.values():
            r.stop()
        subprocess.Popen(["rm", "-rf", work], start_new_session=True)
    meta["elapsed_s"] = round(time.time() - t0, 1)
    text = (f"Encryption at rest on vs off — {meta.get('cpu', '')}, "
            f"{args.repeats} runs of {args.duration:g} s each, medians.\n"
            f"Command: `{meta['command']}`\n\n" + table(rows) + "\n")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "encryption.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "encryption.json"), "w") as f:
        for row in rows:
            for runs in row["runs"].values():
                for r in runs:
                    r.pop("samples", None)
        json.dump(dict(meta=meta, cells=rows), f, indent=1)
    print(text)


if __name__ == "__main__":
    shutil.which("true")
    main()
