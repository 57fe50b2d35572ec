"""The local stack: moto server + data stack + provider simulator + ``chalice local`` + seed,
plus the SQS poller (``devtools/sqs_poller.py``) that delivers the spool and S2S queues to
their handlers, which ``chalice local`` does not run, and the stream poller
(``devtools/stream_poller.py``) that delivers the profiles table's stream to the insight
aggregator.

The demo catalog is seeded through the admin API once ``chalice local`` answers (with the
file's ids, on the fresh catalog), and ``start()`` returns only when the event path serves it.

    python -m devtools.stack        # what ``make run`` runs; Ctrl-C stops everything

Everything listens on 127.0.0.1. The DCS is on port 8000; the moto and simulator ports
come from ``RTDCS_STACK_MOTO_PORT`` / ``RTDCS_STACK_SIM_PORT`` (defaults 5055 / 8081), and
``RTDCS_STACK_DCS_PORT`` moves the DCS too (for tests that run ``make run`` beside a
developer's own stack). It prints a line with ``READY`` once the demo catalog is seeded: admin
calls made earlier are safe too (the seed keeps what it finds), but may meet the seed's writes.
Every ``RTDCS_*`` variable of the caller's environment reaches ``chalice local`` and
overrides the stack's permissive defaults. Note that ``chalice local`` then applies the
``local`` stage's ``environment_variables`` from ``.chalice/config.json`` on top.

In tests: ``with LocalStack(dcs_port=..., moto_port=..., sim_port=...) as stack: ...``.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STACK_NAME = "rtdcs-local"
STAGE = "local"
POLLER = "sqs-poller"  # the child that delivers SQS messages to the app's queue handlers
STREAM_POLLER = "stream-poller"  # the child that delivers the profiles stream (insight)

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Variables for the runner itself, not for the application.
_RUNNER_VARS = ("RTDCS_STACK_DCS_PORT", "RTDCS_STACK_MOTO_PORT", "RTDCS_STACK_SIM_PORT")
# Variables the caller's environment must not carry into the children.
_DROPPED_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)

_CHALICE_MAIN = "import sys; from chalice.cli import main; sys.exit(main())"


class StackError(RuntimeError):
    """The local stack could not start, or one of its processes died."""


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout_s: float = 1.0) -> int | None:
    """The HTTP status of ``GET url``, or None if nothing answers (loopback, no proxy)."""
    try:
        with _no_proxy_opener().open(url, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


_PORT_HINTS = {
    "dcs": "then try again",
    "moto": "or set RTDCS_STACK_MOTO_PORT to another port",
    "sim": "or set RTDCS_STACK_SIM_PORT to another port",
}


def port_in_use_message(name: str, port: int) -> str:
    """One line: which port, for what, and what to do."""
    return (f"port {port} ({name}) on {HOST} is already in use: stop what listens there "
            f"(an earlier make run? `ss -ltnp 'sport = :{port}'` names it), "
            f"{_PORT_HINTS.get(name, 'then try again')}")


def free_port(exclude: tuple[int, ...] = ()) -> int:
    """A currently free TCP port on 127.0.0.1 (not one of ``exclude``)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise StackError("no free port found")


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved once in the parent: the pre-exec hook below must do as little as possible.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Child pre-exec hook (Linux): get SIGTERM if the runner dies without cleaning up."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Child:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_path: Path, log: IO[bytes]):
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self._log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM, to this PID only
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=grace_s)
        self._log.close()

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-max_chars:]


class LocalStack:
    """Starts and stops the whole local stack on loopback; see the module docstring."""

    def __init__(
        self,
        dcs_port: int = 8000,
        moto_port: int = 5055,
        sim_port: int = 8081,
        extra_env: Mapping[str, str] | None = None,
        log_dir: str | Path | None = None,
        startup_timeout_s: float = 30.0,
        quiet: bool = False,
        catalog_path: str | Path | None = None,
    ) -> None:
        self.dcs_port = dcs_port
        self.moto_port = moto_port
        self.sim_port = sim_port
        self.extra_env = dict(extra_env or {})
        self.startup_timeout_s = startup_timeout_s
        self.quiet = quiet
        self.catalog_path = Path(catalog_path) if catalog_path else None  # None: the demo's
        self.dcs_url = f"http://{HOST}:{dcs_port}"
        self.moto_url = f"http://{HOST}:{moto_port}"
        self.sim_url = f"http://{HOST}:{sim_port}"
        self.tables: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.admin_token = ""
        self.log_dir = Path(log_dir) if log_dir else None
        self._children: list[_Child] = []
        self.seed_problems: list[str] = []  # what the demo seed skipped (the stack runs on)
        self._lock = threading.Lock()
        self._abort = threading.Event()

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> "LocalStack":
        if self._children:
            raise StackError("stack already started")
        for name, port in (
            ("dcs", self.dcs_port),
            ("moto", self.moto_port),
            ("sim", self.sim_port),
        ):
            if not port_is_free(port):
                raise StackError(port_in_use_message(name, port))
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="rtdcs-stack-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._say(f"logs: {self.log_dir}")
        atexit.register(self.stop)
        try:
            self._start_moto()
            self.tables = self._create_tables()
            self._start_simulator()
            self.env = self._app_env()
            self._start_dcs()
            self._start_poller()
            self._start_stream_poller()
            self._seed()
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt) and not self._abort.is_set():
                self._report_failure()
            self.stop()
            raise
        return self

    def request_abort(self) -> None:
        """Make a ``start()`` in progress give up (signal handlers)."""
        self._abort.set()

    def stop(self) -> None:
        """Stop every child, newest first: SIGTERM by PID, wait, then SIGKILL."""
        with self._lock:
            children, self._children = self._children, []
        for child in reversed(children):
            try:
                child.stop()
            except Exception as exc:  # noqa: BLE001 (keep stopping the others)
                print(
                    f"rtdcs stack: could not stop {child.name} ({child.pid}): {exc}",
                    file=sys.stderr,
                )
        atexit.unregister(self.stop)

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dead_children(self) -> list[str]:
        """Names of started processes that are no longer running."""
        return [c.name for c in self._children if not c.alive()]

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self._children}

    def log_paths(self) -> dict[str, Path]:
        return {c.name: c.log_path for c in self._children}

    def log_tail(self, name: str, max_chars: int = 4000) -> str:
        for child in self._children:
            if child.name == name:
                return child.log_tail(max_chars)
        return ""

    def boto3_session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_AWS_ENV["AWS_SESSION_TOKEN"],
            region_name=DUMMY_AWS_ENV["AWS_REGION"],
        )

    def client(self, service: str) -> Any:
        """A boto3 client pointed at the stack's moto server."""
        return self.boto3_session().client(service, endpoint_url=self.moto_url)

    def dynamodb(self) -> Any:
        """A boto3 DynamoDB resource pointed at the stack's moto server."""
        return self.boto3_session().resource("dynamodb", endpoint_url=self.moto_url)

    # ---- steps ---------------------------------------------------------------------------

    def _start_moto(self) -> None:
        self._spawn(
            "moto",
            # moto with DynamoDB requests one at a time, atomic as in DynamoDB
            [sys.executable, "-m", "devtools.moto_server", "-H", HOST, "-p", str(self.moto_port)],
            self._base_env(),
        )
        self._wait_http("moto", f"{self.moto_url}/moto-api/", lambda s: s is not None)

    def _create_tables(self) -> dict[str, str]:
        from infra.bootstrap import create_data_stack

        tables = create_data_stack(
            self.client("cloudformation"),
            self.client("dynamodb"),
            stack_name=STACK_NAME,
            stage=STAGE,
        )
        self._say(f"tables: {', '.join(tables.values())}")
        return tables

    def _start_simulator(self) -> None:
        self._spawn(
            "sim",
            [sys.executable, "-m", "devtools.provider_sim", "--port", str(self.sim_port)],
            self._base_env(),
        )
        self._wait_http("sim", f"{self.sim_url}/_health", lambda s: s == 200)

    def _seed(self) -> None:
        """Seed the demo catalog; whatever happens to it, the stack stays up."""
        from devtools.seed import DEMO_CATALOG, seed_via_api

        try:
            report = seed_via_api(
                self.dcs_url, self.admin_token, self.sim_url,
                catalog_path=self.catalog_path or DEMO_CATALOG, wait_s=self.startup_timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - a seed failure must not stop the stack
            self.seed_problems = [f"the demo catalog could not be seeded: {exc}"]
            self._warn(self.seed_problems[0])
            return
        self.seed_problems = list(report.skipped)
        for detail in report.skipped:
            self._warn(f"demo catalog: skipped {detail}")
        self._say(f"demo catalog seeded through the admin API: {report.summary()} "
                  f"(version {report.version})")

    def _start_dcs(self) -> None:
        if not (REPO_ROOT / "app.py").exists():
            raise StackError(f"{REPO_ROOT / 'app.py'} does not exist: nothing to serve")
        self._spawn(
            "dcs",
            [
                sys.executable,
                "-c",
                _CHALICE_MAIN,
                "local",
                "--no-autoreload",
                "--host",
                HOST,
                "--port",
                str(self.dcs_port),
                "--stage",
                STAGE,
            ],
            self.env,
        )
        self._wait_http("dcs", f"{self.dcs_url}/healthz", lambda s: s == 200)

    def _start_poller(self) -> None:
        # Same environment as ``chalice local``; it declares itself ready once it polls.
        from devtools.sqs_poller import READY_MARKER

        assert self.log_dir is not None
        log_path = self.log_dir / f"{POLLER}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0  # logs are appended
        self._spawn(
            POLLER,
            [sys.executable, "-m", "devtools.sqs_poller", "--stage", STAGE],
            self.env,
        )
        self._wait_log(POLLER, READY_MARKER, offset)

    def _start_stream_poller(self) -> None:
        # Same pattern as the SQS poller: the profiles table's stream to insight_aggregator.
        from devtools.stream_poller import READY_MARKER

        assert self.log_dir is not None
        log_path = self.log_dir / f"{STREAM_POLLER}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        self._spawn(
            STREAM_POLLER,
            [sys.executable, "-m", "devtools.stream_poller", "--stage", STAGE],
            self.env,
        )
        self._wait_log(STREAM_POLLER, READY_MARKER, offset)

    # ---- environment ---------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_VARS}
        env.update(DUMMY_AWS_ENV)
        env["AWS_ENDPOINT_URL"] = self.moto_url
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        no_proxy = {p for p in env.get("NO_PROXY", "").split(",") if p} | {HOST, "localhost"}
        env["NO_PROXY"] = env["no_proxy"] = ",".join(sorted(no_proxy))
        return env

    def _app_env(self) -> dict[str, str]:
        from infra.bootstrap import settings_env

        env = self._base_env()
        defaults = {
            "RTDCS_COOKIE_SECURE": "false",
            "RTDCS_CORS_ALLOWED_ORIGINS": "*",
            "RTDCS_PROVIDERS_HTTP_HOSTS": f"{HOST},localhost",
            "RTDCS_CATALOG_REFRESH_SECONDS": "2",
            "RTDCS_ADMIN_TOKEN": os.environ.get("RTDCS_ADMIN_TOKEN") or secrets.token_urlsafe(24),
            "RTDCS_IDENTITY_BLOB_SECRET": secrets.token_urlsafe(32),  # /id's d_blob HMAC key
        }
        env.update(defaults)
        # The caller's RTDCS_* settings win over the defaults; the table names are facts of
        # this stack (its own moto server), so only extra_env may change them.
        env.update(
            {
                k: v
                for k, v in os.environ.items()
                if k.startswith("RTDCS_") and k not in _RUNNER_VARS
            }
        )
        env.update(settings_env(self.tables))
        env.update(self.extra_env)
        for key in _RUNNER_VARS:
            env.pop(key, None)
        self.admin_token = env["RTDCS_ADMIN_TOKEN"]
        return env

    # ---- processes -----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> _Child:
        assert self.log_dir is not None
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 (closed by _Child.stop)
        proc = subprocess.Popen(
            argv,
            cwd=str(REPO_ROOT),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops us in order
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        child = _Child(name, proc, log_path, log)
        with self._lock:
            self._children.append(child)
        self._say(f"{name}: pid {proc.pid}, log {log_path}")
        return child

    def _wait_http(self, name: str, url: str, ready: Any) -> None:
        child = next(c for c in self._children if c.name == name)
        deadline = time.monotonic() + self.startup_timeout_s
        status: int | None = None
        while time.monotonic() < deadline:
            if self._abort.is_set():
                raise StackError("start aborted")
            if not child.alive():
                raise StackError(f"{name} exited with code {child.proc.returncode} while starting")
            status = http_status(url)
            if ready(status):
                return
            time.sleep(0.1)
        raise StackError(
            f"{name} did not become ready within {self.startup_timeout_s:.0f} s "
            f"(GET {url} -> {status})"
        )

    def _wait_log(self, name: str, marker: str, offset: int = 0) -> None:
        """Wait until ``name``'s log holds ``marker`` past ``offset`` (bounded, like
        ``_wait_http``)."""
        child = next(c for c in self._children if c.name == name)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._abort.is_set():
                raise StackError("start aborted")
            try:
                with open(child.log_path, "rb") as log:
                    log.seek(offset)
                    if marker.encode() in log.read():
                        return
            except OSError:
                pass
            if not child.alive():
                raise StackError(f"{name} exited with code {child.proc.returncode} while starting")
            time.sleep(0.1)
        raise StackError(
            f"{name} did not become ready within {self.startup_timeout_s:.0f} s "
            f"(no {marker!r} in {child.log_path})"
        )

    def _report_failure(self) -> None:
        for child in self._children:
            print(
                f"----- {child.name} (pid {child.pid}, "
                f"{'running' if child.alive() else f'exit {child.proc.returncode}'}) "
                f"{child.log_path} -----\n{child.log_tail()}",
                file=sys.stderr,
            )

    def _say(self, message: str) -> None:
        if not self.quiet:
            print(f"rtdcs stack: {message}", flush=True)

    def _warn(self, message: str) -> None:
        print(f"rtdcs stack: {message}", file=sys.stderr, flush=True)


def main() -> int:
    for key, value in DUMMY_AWS_ENV.items():
        os.environ[key] = value
    for key in _DROPPED_VARS:
        os.environ.pop(key, None)
    stack = LocalStack(
        dcs_port=int(os.environ.get("RTDCS_STACK_DCS_PORT", "8000")),  # tests only
        moto_port=int(os.environ.get("RTDCS_STACK_MOTO_PORT", "5055")),
        sim_port=int(os.environ.get("RTDCS_STACK_SIM_PORT", "8081")),
    )
    stop_requested = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop_requested.set()
        stack.request_abort()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        stack.start()
    except StackError as exc:
        if stop_requested.is_set():
            return 0
        print(f"rtdcs stack: failed to start: {exc}", file=sys.stderr)
        return 1
    if stop_requested.is_set():
        stack.stop()
        return 0
    print(
        "\n"
        "rtdcs stack: READY: the demo catalog is seeded; admin calls are safe now\n"
        "\n"
        f"  demo page     {stack.dcs_url}/demo\n"
        f"  DCS           {stack.dcs_url}/event?d_rtbd=json&d_cts=1&c_section=sports\n"
        f"  admin token   {stack.admin_token}\n"
        f"                (curl -H 'Authorization: Bearer {stack.admin_token}' "
        f"{stack.dcs_url}/v1/settings)\n"
        f"  simulator     {stack.sim_url}/_config\n"
        f"  moto          {stack.moto_url}\n"
        f"  queues        spool + S2S delivered by the {POLLER} child\n"
        f"  logs          {stack.log_dir}\n"
        f"  stop          Ctrl-C (or kill -TERM {os.getpid()})\n",
        flush=True,
    )
    code = 0
    while not stop_requested.wait(0.5):
        dead = stack.dead_children()
        if dead:
            for name in dead:
                print(
                    f"rtdcs stack: {name} died unexpectedly; its log ends with:\n"
                    f"{stack.log_tail(name)}",
                    file=sys.stderr,
                )
            code = 1
            break
    print("rtdcs stack: stopping", flush=True)
    stack.stop()
    print("rtdcs stack: stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
