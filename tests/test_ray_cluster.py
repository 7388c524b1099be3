"""`--ray ADDRESS` on a real two-node Ray cluster: two `ray start` processes on this machine (one CPU each,
token authentication on, ports and temp folders of their own), driven by the CLI as a user would.

Everything runs inside a network namespace of its own that holds only the loopback interface: Ray would
otherwise register its nodes under this machine's outward address; in the namespace both nodes are 127.0.0.1
and no packet can leave it. Needs root (`ip netns`); skipped with the reason otherwise.

Covers what went wrong on a first try: requests that fit no node (pending forever), a client without the
token (refused: one line saying what to set), the dataset missing on one node (one line naming the node
and folder, no download), a worker node killed mid-run (its run retried elsewhere, finished runs kept,
a rerun resumes). Only the processes started here are stopped (by their own process groups): never
`ray stop`, which would end every Ray on the machine.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not RAY.exists(), reason="Ray's `ray` command is not installed (requirements-cluster.txt)")]
GRID = ["reproduce", "fig4", "--dataset", "fashion-mnist", "--networks", "resnet18", "--epochs", "1", "--width", "0.125",
        "--train-subset", "128", "--test-subset", "128", "--seeds", "0", "--json"]


NAMESPACE = f"arelu-ray-{secrets.token_hex(4)}"
IN_NAMESPACE = ["ip", "netns", "exec", NAMESPACE]   # execs in place: the pid stays the command's own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head and one worker node, each a `ray start --block` in a process group of its own."""

    def __init__(self, tmp: Path, data_dir: str):
        self.tmp, self.port = tmp, free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}, "HOME": str(tmp / "home"), "RAY_USAGE_STATS_ENABLED": "0",
                         "PYTHONPATH": str(ROOT),
                         # a dead node noticed within seconds, not Ray's default half minute
                         "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                         "RAY_health_check_initial_delay_ms": "1000"}
        (tmp / "home").mkdir()
        empty = tmp / "no-data"
        empty.mkdir()
        self.empty_data = str(empty)
        self.head = self._start("head", data_dir, ["--head", "--port", str(self.port), "--include-dashboard", "false",
                                                   "--dashboard-port", str(free_port())])
        self._wait_until_started(self.head, "head")
        self.worker = self._start("worker", self.empty_data, ["--address", self.address])
        self._wait_until_started(self.worker, "worker")    # a worker node says so once the head registered it

    def _start(self, name: str, data: str, args: list[str]) -> subprocess.Popen:
        env = {**self.base_env, **self.auth, "ARELU_DATA_DIR": data}
        command = [str(RAY), "start", *args, "--num-cpus", "1", "--temp-dir", str(self.tmp / name), "--block",
                   "--disable-usage-stats", "--object-store-memory", str(80 * 1024 ** 2),
                   "--dashboard-agent-listen-port", str(free_port())]
        log = open(self.tmp / f"{name}.log", "w")
        return subprocess.Popen(IN_NAMESPACE + command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_until_started(self, proc: subprocess.Popen, name: str, timeout_s: float = 90):
        log, deadline = self.tmp / f"{name}.log", time.monotonic() + timeout_s
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`ray start` ({name}) did not come up:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.5)

    @staticmethod
    def descendants(pid: int) -> dict[int, bytes]:
        """pid -> command line of every process below `pid` (Ray's workers may sit in groups of their own)."""
        table = {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                ppid = int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
                table[int(proc.name)] = (ppid, (proc / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                continue
        found, frontier = {}, {pid}
        while frontier:
            frontier = {p for p, (ppid, _) in table.items() if ppid in frontier and p not in found}
            found.update({p: table[p][1] for p in frontier})
        return found

    def running_task_on_worker(self) -> bool:
        """A Ray worker process of the worker node is executing our task (Ray retitles it so)."""
        return any(title.startswith(b"ray::run_task") for title in self.descendants(self.worker.pid).values())

    @classmethod
    def kill(cls, proc: subprocess.Popen, sig=signal.SIGKILL):
        for pid in [proc.pid, *cls.descendants(proc.pid)]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        for proc in (self.worker, self.head):
            self.kill(proc, signal.SIGTERM)         # `ray start --block` stops what it started
        for proc in (self.worker, self.head):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            self.kill(proc)                         # anything of its group still there


def cli(args, env, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run(IN_NAMESPACE + [sys.executable, "-m", "arelu_core", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def loopback_namespace():
    made = subprocess.run(["ip", "netns", "add", NAMESPACE], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace for the cluster (`ip netns add`: {made.stderr.strip()})")
    try:
        subprocess.run(IN_NAMESPACE + ["ip", "link", "set", "lo", "up"], check=True)
        yield NAMESPACE
    finally:
        subprocess.run(["ip", "netns", "delete", NAMESPACE])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, data_dir, loopback_namespace):
    pytest.importorskip("ray")
    started = time.monotonic()
    c = Cluster(tmp_path_factory.mktemp("ray"), data_dir)
    c.started_in = time.monotonic() - started
    yield c
    c.stop()


def test_failures_on_a_cluster_end_in_one_line(cluster, tmp_path):
    env = {**cluster.base_env, **cluster.auth}
    out = tmp_path / "f4"
    grid = GRID + ["--activations", "relu", "arelu", "--ray", cluster.address, "--out", str(out)]
    timings = {"cluster_start": cluster.started_in}

    started = time.monotonic()                 # no token: refused, and told what to set
    run = cli(grid, cluster.base_env)
    timings["auth_refused"] = time.monotonic() - started
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "refused" in run.stderr and "RAY_AUTH_MODE=token" in run.stderr and "RAY_AUTH_TOKEN" in run.stderr
    run_auth_err = run.stderr

    # One driver process, two commands (saves a start-up): a GPU asked of a cluster without one (at once, not
    # pending forever), then the worker node's ARELU_DATA_DIR holding nothing (named, no download).
    both = (f"import io, json, sys, time, contextlib\nfrom arelu_core.cli import main\nfor args in {[grid + ['--device', 'cuda'], grid]!r}:\n"
            "    err, started = io.StringIO(), time.monotonic()\n"
            "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
            "        code = main(args)\n"
            "    print(json.dumps([code, err.getvalue(), time.monotonic() - started]))\n")
    started = time.monotonic()
    run = subprocess.run(IN_NAMESPACE + [sys.executable, "-c", both], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    timings["infeasible_then_data_missing"] = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    (code, err, infeasible), (code2, err2, missing) = [json.loads(line) for line in run.stdout.strip().splitlines()[-2:]]
    timings.update(infeasible=infeasible, data_missing=missing)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no node of the Ray cluster has a GPU" in err, err
    assert code2 == 2 and len(err2.strip().splitlines()) == 1, err2
    assert "Fashion-MNIST is missing on Ray node" in err2
    assert f"{cluster.empty_data}/FashionMNIST" in err2 and "ARELU_DATA_DIR" in err2
    print(json.dumps({k: round(v, 1) for k, v in timings.items()}))
    print("\n".join(line.strip() for line in (run_auth_err, err, err2)))


def test_a_worker_node_killed_mid_run_is_retried_and_a_rerun_resumes(cluster, tmp_path, data_dir):
    env = {**cluster.base_env, **cluster.auth}
    out = tmp_path / "f4"
    grid = GRID + ["--activations", "relu", "arelu", "lrelu", "--ray", cluster.address, "--out", str(out),
                   "--data-dir", data_dir]
    started = time.monotonic()
    driver = subprocess.Popen(IN_NAMESPACE + [sys.executable, "-m", "arelu_core", *grid], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not cluster.running_task_on_worker():
            assert driver.poll() is None and time.monotonic() < deadline, "no run reached the worker node"
            time.sleep(0.2)
        killed_at = time.monotonic() - started
        cluster.kill(cluster.worker)            # the whole node: raylet, its workers, the run in flight
        stdout, stderr = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
    first = time.monotonic() - started
    assert driver.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["trained_now"] == 3
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["activation"] for r in records) == ["arelu", "lrelu", "relu"]
    assert all(r["status"] == "finished" and r["threads"] == 1 for r in records)   # one CPU per task, one thread

    started = time.monotonic()                  # a rerun finds every run done and trains nothing
    run = cli(grid, env)
    rerun = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    again = json.loads(run.stdout.strip().splitlines()[-1])
    assert again["skipped"] == 3 and again["trained_now"] == 0
    assert (out / "runs.jsonl").read_text().count("\n") == 3
    print(json.dumps({"killed_after": round(killed_at, 1), "grid_with_kill": round(first, 1), "rerun": round(rerun, 1)}))
