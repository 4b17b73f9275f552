#!/usr/bin/env python3
"""berth on PostgreSQL + S3 against the embedded default (SQLite + local disk), in one run.

    bench/scaleout.py [--no-build] [--repeats 3] [--duration 2] [--concurrency 1,16]

Starts a throwaway PostgreSQL 15 (test/pg/start-postgres.sh) and a single-node Ceph RADOS
Gateway (test/s3/start-s3.sh) on loopback, then two berth servers: "embedded" (SQLite + the
disk driver, the default) and "pg+s3" (metadata.driver postgres, storage.driver s3). Each
fresh start of pg+s3 gets a new database and a new key prefix in the bucket. Runs the push,
pull, HEAD and manifest cells of bench/compare.py against both alternately with the same
berth-bench client, and prints a table (throughput, p99, server CPU per GiB or per 1,000 ops,
peak RSS, pg+s3/embedded ratios); writes bench/results/scaleout.{json,md}.

Server CPU and RSS are berth's only: PostgreSQL and Ceph run beside it on the same 2 cores,
so the pg+s3 figures include the cost of sharing the machine with them (as the client's do).
Encryption at rest is off in both (like compare.py); --berth-encryption on measures the
default. Reuses compare.py's machinery.
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
PSQL = "/usr/lib/postgresql/15/bin/psql"


class Services:
    """PostgreSQL and Ceph RGW for the pg+s3 variant, started once for the whole run."""

    def __init__(self, work):
        self.work = work
        self.pg_dir = os.path.join(work, "pg")
        self.s3_dir = os.path.join(work, "s3")
        self.conninfo = None
        self.s3 = {}

    def start(self):
        os.makedirs(self.pg_dir)
        os.makedirs(self.s3_dir)
        self.conninfo = subprocess.run(
            ["bash", os.path.join(C.ROOT, "test/pg/start-postgres.sh"), self.pg_dir],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        subprocess.run(["bash", os.path.join(C.ROOT, "test/s3/start-s3.sh"), self.s3_dir],
                       check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, S3_CAPACITY=str(16 * C.GiB)))
        with open(os.path.join(self.s3_dir, "env")) as f:
            for line in f:
                line = line.strip()
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].split("=", 1)
                    self.s3[k] = v.strip("'\"")

    def new_database(self, name):
        subprocess.run([PSQL, self.conninfo, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                       stdout=subprocess.DEVNULL)
        parts = [p for p in self.conninfo.split() if not p.startswith("dbname=")]
        return " ".join(parts + [f"dbname={name}"])

    def stop(self):
        for script, d in (("test/s3/stop-s3.sh", self.s3_dir), ("test/pg/stop-postgres.sh",
                                                                self.pg_dir)):
            if os.path.exists(d):
                subprocess.run(["bash", os.path.join(C.ROOT, script), d],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Berth(C.Registry):
    """A berth server of one variant; every start is on fresh stores."""

    def __init__(self, variant, work, berth_bin, encryption, services):
        super().__init__("berth", work, berth_bin, None,
                         {"BERTH_ENCRYPTION_AT_REST": "true" if encryption else "false"})
        self.variant = variant
        self.services = services

    @property
    def data_dir(self):
        return os.path.join(self.work, f"{self.variant.replace('+', '-')}-data")

    @property
    def log_path(self):
        return os.path.join(self.work, f"{self.variant.replace('+', '-')}-{self.generation}.log")

    def start(self):
        if self.variant == "pg+s3":
            s3 = self.services.s3
            gen = self.generation + 1
            self.env.update({
                "BERTH_METADATA_DRIVER": "postgres",
                "BERTH_POSTGRES_URL": self.services.new_database(f"bench_{gen}"),
                "BERTH_STORAGE_DRIVER": "s3",
                "BERTH_S3_ENDPOINT": s3["BERTH_TEST_S3_ENDPOINT"],
                "BERTH_S3_BUCKET": s3["BERTH_TEST_S3_BUCKET"],
                "BERTH_S3_REGION": s3["BERTH_TEST_S3_REGION"],
                "BERTH_S3_PREFIX": f"bench-{gen}/",
                "AWS_ACCESS_KEY_ID": s3["BERTH_TEST_S3_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3["BERTH_TEST_S3_SECRET_ACCESS_KEY"],
            })
        super().start()


def cells():
    # The test S3 server keeps objects in memory (a memstore OSD) and frees deleted ones only
    # after its garbage collection: the push cells stay small enough to fit.
    keep = {("push-mono", "1 MiB"), ("push-mono", "16 MiB"), ("push-mono", "128 MiB"),
            ("push-chunked", "64 MiB / 8 MiB"), ("pull", "1 MiB"), ("pull", "16 MiB"),
            ("pull", "128 MiB"), ("head-blob", ""), ("manifest-get", ""), ("manifest-head", ""),
            ("manifest-put", "")}
    return [c for c in C.full_matrix(1000) if (c["name"], c["param"]) in keep]


def skip(c, conc):
    """Cells left out: pushes writing more than ~2 GiB per run fill the in-memory OSD."""
    return c["name"].startswith("push") and C.run_bytes(c, conc) >= 2 * C.GiB


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    V.add_args(ap)
    ap.add_argument("--berth-encryption", choices=("off", "on"), default="off")
    args = ap.parse_args()
    berth_bin, bench_bin, concs, todo = V.prepare(args, cells())
    work = tempfile.mkdtemp(prefix="berth-scaleout-bench-", dir="/var/tmp")
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user under root
    services = Services(work)
    enc = args.berth_encryption == "on"
    regs = {"embedded": Berth("embedded", work, berth_bin, enc, services),
            "pg+s3": Berth("pg+s3", work, berth_bin, enc, services)}
    meta = C.machine_info()
    meta.update(command="bench/scaleout.py " + " ".join(sys.argv[1:]), repeats=args.repeats,
                duration=args.duration, concurrency=concs)
    t0 = time.time()
    try:
        services.start()
        for r in regs.values():
            r.start()
        rows = V.run(regs, todo, concs, args, bench_bin, 20, skip)
    finally:
        for r in regs.values():
            r.stop()
        services.stop()
        if not os.environ.get("KEEP_WORK"):
            subprocess.Popen(["rm", "-rf", work], start_new_session=True)
    meta["elapsed_s"] = round(time.time() - t0, 1)
    text = (f"berth on PostgreSQL + S3 (Ceph RGW, memstore OSD) vs the embedded default — "
            f"{meta.get('cpu', '')}, encryption at rest {args.berth_encryption}, "
            f"{args.repeats} runs of {args.duration:g} s each, medians.\n"
            f"Command: `{meta['command']}`\n\n"
            + V.table(rows, "pg+s3", "embedded", "pg+s3", "emb") + "\n")
    V.write(args.out, "scaleout", text, meta, rows)
    print(text)


if __name__ == "__main__":
    shutil.which("true")
    main()
