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
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402
import variants as V  # noqa: E402


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


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    V.add_args(ap)
    args = ap.parse_args()
    berth_bin, bench_bin, concs, todo = V.prepare(args, cells())
    work = tempfile.mkdtemp(prefix="berth-enc-bench-", dir="/var/tmp")
    regs = {"encrypted": Berth("encrypted", work, berth_bin, True),
            "plaintext": Berth("plaintext", work, berth_bin, False)}
    meta = C.machine_info()
    meta.update(command="bench/encryption.py " + " ".join(sys.argv[1:]), repeats=args.repeats,
                duration=args.duration, concurrency=concs)
    t0 = time.time()
    try:
        for r in regs.values():
            r.start()
        rows = V.run(regs, todo, concs, args, bench_bin, 50)
    finally:
        for r in regs.values():
            r.stop()
        subprocess.Popen(["rm", "-rf", work], start_new_session=True)
    meta["elapsed_s"] = round(time.time() - t0, 1)
    text = (f"Encryption at rest on vs off — {meta.get('cpu', '')}, "
            f"{args.repeats} runs of {args.duration:g} s each, medians.\n"
            f"Command: `{meta['command']}`\n\n"
            + V.table(rows, "encrypted", "plaintext", "enc", "plain") + "\n")
    V.write(args.out, "encryption", text, meta, rows)
    print(text)


if __name__ == "__main__":
    shutil.which("true")
    main()
