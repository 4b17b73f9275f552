#!/usr/bin/env python3
"""Idle keep-alive connections: how much memory a registry needs to hold N of them.

Starts berth and CNCF Distribution (fresh data directories, as bench/compare.py does), opens N
connections to each, sends one authenticated GET /v2/ on every connection and keeps them all
open and idle, then reads the server's VmRSS/VmHWM from /proc. Prints one line per registry.

    bench/idle_connections.py [--connections 10000] [--berth-bin build/berth]

The client needs N file descriptors: the script raises its soft limit to the hard limit.
"""
import argparse
import base64
import os
import resource
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import Registry  # noqa: E402


def rss_mib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def hold(reg, n):
    headers = "Host: bench\r\n"
    if reg.creds:
        headers += "Authorization: Basic " + base64.b64encode(reg.creds.encode()).decode() + "\r\n"
    request = f"GET /v2/ HTTP/1.1\r\n{headers}\r\n".encode()
    before = rss_mib(reg.proc.pid)["VmRSS"]
    socks, answered = [], 0
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", reg.port))
            s.sendall(request)
            socks.append(s)
        for s in socks:
            if s.recv(65536).startswith(b"HTTP/1.1 200"):
                answered += 1
        time.sleep(2)
        alive = reg.proc.poll() is None
        mem = rss_mib(reg.proc.pid) if alive else {"VmRSS": float("nan"), "VmHWM": float("nan")}
    finally:
        for s in socks:
            s.close()
    return answered, before, mem


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--berth-bin", default="build/berth")
    ap.add_argument("--registry-bin", default="/usr/bin/docker-registry")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        sys.exit(f"the hard descriptor limit ({hard}) is below {args.connections}")
    work = tempfile.mkdtemp(prefix="berth-idle-", dir="/var/tmp")
    try:
        for name in ("berth", "distribution"):
            if name == "distribution" and not shutil.which(args.registry_bin):
                print(f"{name}: {args.registry_bin} not found, skipped")
                continue
            reg = Registry(name, work, args.berth_bin, args.registry_bin)
            reg.start()
            try:
                answered, before, mem = hold(reg, args.connections)
                print(f"{name:13s} {answered:6d}/{args.connections} idle keep-alive connections: "
                      f"RSS {mem['VmRSS']:.1f} MiB (peak {mem['VmHWM']:.1f} MiB, "
                      f"{before:.1f} MiB before)")
            finally:
                reg.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
