"""Black-box harness: runs the real `berth` binary on loopback and talks HTTP to it.

Standard library only. Reused by every file in test/integration/.

    from berth_harness import Berth, BerthTestCase

    with Berth(extra_args=["--upload-ttl", "2"]) as b:
        status, headers, body = b.request("GET", "/v2/")

`Berth` starts `berth serve --listen 127.0.0.1:<free port> --data-dir <temp>/data
[extra args]`, waits until `GET /healthz` answers 200, and sends the server's
stdout+stderr to `<temp>/berth.log`. `BerthTestCase` runs one server per test
class; when a test fails it prints what the server logged during that test (and
keeps the temp dir), and it restarts a server that an earlier test crashed.

Environment:
    BERTH_BIN          path of the binary (default /work/main/build/berth)
    BERTH_KEEP_TMP=1   keep temp dirs even when every test passed
    BERTH_EXTRA_ARGS   more `serve` arguments for every instance (shell-split),
                       e.g. "--log-level debug"
    BERTH_HEALTH_PATH  readiness path polled at startup (default /healthz; only
                       useful to run the suite against another registry through
                       a wrapper script that takes berth's arguments)
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from collections.abc import MutableMapping
from typing import Any, Iterable, NamedTuple, Optional

DEFAULT_BIN = "/work/main/build/berth"
STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0
LOG_TAIL_BYTES = 32 * 1024

# Instances still running at interpreter exit are killed (a crashed test run must not
# leave servers behind).
_LIVE: "set[Berth]" = set()


def _kill_leftovers() -> None:
    for b in list(_LIVE):
        try:
            b.kill()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_kill_leftovers)


class Headers(MutableMapping):
    """Case-insensitive header map. Repeated headers are joined with ", " for
    item access; `get_all(name)` returns each value separately."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self._d: dict[str, tuple[str, list[str]]] = {}
        for k, v in items:
            self.add(k, v)

    def add(self, key: str, value: str) -> None:
        lk = key.lower()
        if lk in self._d:
            self._d[lk][1].append(value)
        else:
            self._d[lk] = (key, [value])

    def get_all(self, key: str) -> list[str]:
        e = self._d.get(key.lower())
        return list(e[1]) if e else []

    def __getitem__(self, key: str) -> str:
        return ", ".join(self._d[key.lower()][1])

    def __setitem__(self, key: str, value: str) -> None:
        self._d[key.lower()] = (key, [value])

    def __delitem__(self, key: str) -> None:
        del self._d[key.lower()]

    def __iter__(self):
        return (orig for orig, _ in self._d.values())

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._d

    def __repr__(self) -> str:
        return "Headers(%r)" % {k: ", ".join(v) for k, v in self._d.values()}


class Response(NamedTuple):
    """(status, headers, body): unpacks as a 3-tuple."""

    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def describe(self, limit: int = 600) -> str:
        body = self.body[:limit].decode("utf-8", "replace")
        return "HTTP %d %r body=%r" % (self.status, self.headers, body)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_location(location: str) -> str:
    """Path+query of a Location/Link target that may be absolute or relative
    (OCI distribution-spec: "the location MAY be absolute ... or relative")."""
    u = urllib.parse.urlsplit(location)
    path = u.path or "/"
    return path + ("?" + u.query if u.query else "")


def add_query(path: str, **params: str) -> str:
    """Appends query parameters to a path that may already carry a query (the
    spec lets upload locations hold "critical query parameters")."""
    sep = "&" if "?" in path else "?"
    return path + sep + urllib.parse.urlencode(params, safe=":/+")


# Every test server is provisioned with this administrator key (berth reads these variables
# at first start), and requests carry it unless a test passes its own Authorization header
# (or Authorization=None for an anonymous request).
ADMIN_ACCESS_KEY_ID = "AKIABERTHTESTADMIN01"
ADMIN_SECRET_ACCESS_KEY = "berth-test-admin-secret-000000000000000"
ADMIN_BASIC = "Basic " + base64.b64encode(
    ("%s:%s" % (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)).encode()).decode()


def _perform(conn: http.client.HTTPConnection, method: str, path: str,
             body: Optional[bytes], headers: Optional[dict]) -> Response:
    hdrs = dict(headers or {})
    auth_keys = [k for k in hdrs if k.lower() == "authorization"]
    if not auth_keys:
        hdrs["Authorization"] = ADMIN_BASIC
    for k in auth_keys:
        if hdrs[k] is None:
            del hdrs[k]
    if body is not None and isinstance(body, str):
        body = body.encode("utf-8")
    if body is None and method in ("POST", "PUT", "PATCH"):
        # Send an explicit zero length rather than nothing: some servers answer
        # 411 to a body-carrying method without Content-Length.
        if not any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs):
            hdrs["Content-Length"] = "0"
    try:
        conn.request(method, path, body=body, headers=hdrs)
    except (BrokenPipeError, ConnectionResetError):
        # The server may answer (e.g. 413) and close before reading the whole
        # body; its response can still be waiting in the socket.
        pass
    r = conn.getresponse()
    data = r.read()
    return Response(r.status, Headers(r.getheaders()), data)


class Client:
    """One persistent HTTP/1.1 connection (keep-alive). Not thread-safe."""

    def __init__(self, host: str, port: int, timeout: float = REQUEST_TIMEOUT_S):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Response:
        return _perform(self.conn, method, path, body, headers)

    def local_address(self) -> Optional[tuple]:
        """Client-side address of the current socket, or None when no socket is
        open; unchanged across requests iff the connection was reused."""
        return self.conn.sock.getsockname() if self.conn.sock is not None else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BerthStartError(RuntimeError):
    def __init__(self, message: str, exited: bool = False):
        super().__init__(message)
        self.exited = exited


class Berth:
    """A `berth serve` process on 127.0.0.1 with its own temp data dir."""

    def __init__(self, extra_args: Iterable[str] = (), binary: Optional[str] = None,
                 data_dir: Optional[str] = None, env: Optional[dict] = None,
                 startup_timeout: float = STARTUP_TIMEOUT_S, start: bool = True):
        self.binary = binary or os.environ.get("BERTH_BIN", DEFAULT_BIN)
        self.extra_args = shlex.split(os.environ.get("BERTH_EXTRA_ARGS", "")) + list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("BERTH_ADMIN_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        self.env.setdefault("BERTH_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        self.startup_timeout = startup_timeout
        self.tmp_dir = tempfile.mkdtemp(prefix="berth-it-")
        self.data_dir = data_dir or os.path.join(self.tmp_dir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(self.tmp_dir, "berth.log")
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.host = "127.0.0.1"
        self.health_path = os.environ.get("BERTH_HEALTH_PATH", "/healthz")
        if start:
            self.start()

    # ----------------------------------------------------------- storage layout
    def service_key_id(self) -> str:
        """Id of the key that encrypts AES256 repositories (exists once one was created)."""
        if not getattr(self, "_service_key_id", None):
            out = subprocess.run([self.binary, "admin", "--data-dir", self.data_dir, "key",
                                  "describe", "alias/berth/aes256"], env=self.env,
                                 capture_output=True, text=True, check=True).stdout
            self._service_key_id = json.loads(out)["KeyId"]
        return self._service_key_id

    def stored_digest(self, digest: str, key_id: Optional[str] = None) -> str:
        """The name berth stores `digest` under for a repository encrypted with `key_id`
        (default: the AES256 service key): blobs are stored once per key, under a digest
        derived from (key, digest). With encryption at rest off it is the digest itself."""
        if self.env.get("BERTH_ENCRYPTION_AT_REST", "true") in ("false", "0", "off"):
            return digest
        key = key_id or self.service_key_id()
        h = hashlib.sha256(b"berth-key-domain/v1\0" + key.encode() + b"\0" + digest.encode())
        return "sha256:" + h.hexdigest()

    # ----------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self, port: int) -> list[str]:
        return [self.binary, "serve", "--listen", "%s:%d" % (self.host, port),
                "--data-dir", self.data_dir] + self.extra_args

    def start(self, port: Optional[int] = None) -> None:
        """Starts the server (on `port`, or a fresh free port) and waits until
        /healthz answers 200. Raises BerthStartError with the log tail."""
        if self.running:
            raise BerthStartError("berth is already running (pid %d)" % self.proc.pid)
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise BerthStartError("berth binary not found or not executable: %s "
                                  "(set BERTH_BIN)" % self.binary)
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            p = port if port is not None else free_port()
            try:
                self._start_once(p)
                return
            except BerthStartError as e:
                # Another process may have taken the port between free_port()
                # and bind: retry on a new port, but only when berth exited.
                if not e.exited or attempt + 1 == attempts:
                    raise

    def _start_once(self, port: int) -> None:
        self.port = port
        with open(self.log_path, "ab") as log:
            log.write(("\n==== %s $ %s\n" % (time.strftime("%H:%M:%S"),
                                             " ".join(self.command(port)))).encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             env=self.env)
            except OSError as e:  # e.g. ETXTBSY while the binary is being relinked
                raise BerthStartError("cannot run %s: %s" % (self.binary, e)) from e
        _LIVE.add(self)
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _LIVE.discard(self)
                raise BerthStartError("berth exited with code %s during startup\n%s"
                                      % (self.proc.returncode, self.log_tail()), exited=True)
            try:
                conn = http.client.HTTPConnection(self.host, port, timeout=1.0)
                try:
                    conn.request("GET", self.health_path)
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        return
                    last = "HTTP %d" % r.status
                finally:
                    conn.close()
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise BerthStartError("berth did not answer 200 on %s within %.0f s (last: %s)\n%s"
                              % (self.health_path, self.startup_timeout, last, self.log_tail()))

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """SIGTERM, then waits. Returns the exit code (None if not started).
        Falls back to SIGKILL after `timeout` and raises TimeoutError."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError("berth did not exit within %.0f s of SIGTERM" % timeout)
        _LIVE.discard(self)
        return self.proc.returncode

    def kill(self) -> Optional[int]:
        """SIGKILL and reap. Returns the exit code (negative signal number)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        _LIVE.discard(self)
        return self.proc.returncode

    def restart(self, graceful: bool = True) -> None:
        """Stops (SIGTERM, or SIGKILL if not graceful) and starts again on the
        same data dir and a fresh port."""
        if graceful:
            self.stop()
        else:
            self.kill()
        self.start()

    def cleanup(self) -> None:
        """Removes the temp dir (log included). Call after stop()."""
        if self.running:
            self.kill()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __enter__(self) -> "Berth":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            if exc_type is not None or os.environ.get("BERTH_KEEP_TMP") == "1":
                sys.stderr.write("berth temp dir kept: %s\n%s\n"
                                 % (self.tmp_dir, self.log_tail()))
            else:
                self.cleanup()

    # ----------------------------------------------------------------- logs
    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_tail(self, max_bytes: int = LOG_TAIL_BYTES, since: int = 0) -> str:
        """The log written since byte offset `since`, at most its last `max_bytes`."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                start = max(since, size - max_bytes)
                f.seek(start)
                data = f.read()
        except OSError as e:
            return "(no log: %s)" % e
        head = "---- berth log %s, bytes %d-%d of %d ----\n" % (
            self.log_path, start, size, size)
        return head + data.decode("utf-8", "replace") + "\n---- end of berth log ----"

    # ----------------------------------------------------------------- HTTP
    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None,
                timeout: float = REQUEST_TIMEOUT_S) -> Response:
        """One request on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            return _perform(conn, method, path, body, headers)
        finally:
            conn.close()

    def connection(self, timeout: float = REQUEST_TIMEOUT_S) -> Client:
        """A persistent (keep-alive) connection; use as a context manager."""
        return Client(self.host, self.port, timeout=timeout)


class BerthTestCase(unittest.TestCase):
    """One berth per test class (started in setUpClass, stopped in
    tearDownClass). Set `berth_args` for extra command-line arguments and
    `berth_env` for extra environment variables of the server (e.g.
    {"BERTH_GC_INTERVAL": "0"}).
    When a test fails, the tail of the server log is written to stderr and the
    temp dir is kept."""

    berth_args: tuple = ()
    berth_env: Optional[dict] = None
    berth: Berth

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._berth_failed = False
        cls.berth = Berth(extra_args=cls.berth_args, env=cls.berth_env)

    @classmethod
    def tearDownClass(cls) -> None:
        b = getattr(cls, "berth", None)
        if b is not None:
            try:
                b.stop()
            finally:
                if cls._berth_failed or os.environ.get("BERTH_KEEP_TMP") == "1":
                    sys.stderr.write("\nberth temp dir kept: %s\n" % b.tmp_dir)
                else:
                    b.cleanup()
        super().tearDownClass()

    def run(self, result=None):
        if result is None:
            return super().run(result)
        b = getattr(type(self), "berth", None)
        if b is not None and b.proc is not None and not b.running:
            # An earlier test crashed the server; that test has failed already.
            # Restart on the same data dir so one crash does not fail every later
            # test of the class with "connection refused".
            sys.stderr.write("\n[berth had exited with code %s; restarting it for %s]\n"
                             % (b.proc.returncode, self.id()))
            type(self)._berth_failed = True
            try:
                b.start()
            except BerthStartError as e:
                sys.stderr.write("[restart failed: %s]\n" % e)
        log_start = b.log_size() if b is not None else 0
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            type(self)._berth_failed = True
            if b is not None:
                state = ("still running" if b.running
                         else "EXITED with code %s" % b.proc.returncode)
                # What the server logged while this test ran.
                sys.stderr.write("\n[%s failed; berth %s; server log during the test]\n%s\n"
                                 % (self.id(), state, b.log_tail(since=log_start)))
        return out

    # Convenience passthroughs.
    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Response:
        return self.berth.request(method, path, body, headers)
