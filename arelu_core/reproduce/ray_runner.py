"""Run a grid's trainings as Ray tasks on any Ray cluster (`--ray ADDRESS`, or `--ray local`).

Ray is an optional extra (`pip install .[cluster]` or requirements-cluster.txt): nothing else imports
this module. Each training is one task with one GPU where the cluster has GPUs, else as many CPUs as
the driver's threads but never more than the largest node has (a request no node can hold would wait
forever), with torch's threads set to the CPUs the task got. arelu_core itself travels to the workers
(runtime_env py_modules), so a cluster needs only torch, torchvision, timm and numba installed. Results
come back as plain dicts and go to `on_result` one at a time, as tasks finish: the caller appends each
to its results file at once, so a failure keeps every finished run and a rerun resumes.

Every way a cluster run can go wrong ends in one line (a RayUnavailableError, exit 2 in the CLI):
the cluster unreachable, token authentication refused (what to set), no node able to hold a task
(checked before submitting and again whenever nodes change), the dataset missing on a worker's node
(the task looks before training, naming the node and the folder; it never downloads), a worker lost
more than MAX_RETRIES times on one run.
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, DataUnavailableError

# A task whose worker dies (killed, node lost) runs again, up to this often (ARELU_RAY_MAX_RETRIES overrides).
MAX_RETRIES = int(os.environ.get("ARELU_RAY_MAX_RETRIES", "3"))
CONNECT_TIMEOUT_S = 10
GCS_TRIES = 6                  # seconds' worth of tries at a reachable cluster's id before ray.init gives up
NODE_CHECK_S = 5.0             # while waiting: how often to check that some alive node can still hold a task
AUTH_REFUSED = ("InvalidAuthToken", "Unauthenticated")   # what the GCS client logs when the cluster refuses us


class RayUnavailableError(ConfigError):
    """Ray is not installed, the cluster cannot be reached or cannot run the grid."""


class RayAuthError(RayUnavailableError):
    """The cluster uses token authentication and refused this client."""


class RayInfeasibleError(RayUnavailableError):
    """No node of the cluster can hold one task's resource request."""


class RayWorkerLostError(RayUnavailableError):
    """A task's worker (or node) died more often than MAX_RETRIES."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("--ray needs Ray, which is not installed: pip install 'arelu-lab[cluster]' "
                                  "(or pip install -r requirements-cluster.txt)") from None
    return ray


@contextmanager
def _native_stderr_to(path: str):
    """Ray's C++ client logs why it cannot connect (an auth refusal among them) to fd 2 only, and retries
    for 20 s while doing so: keep those lines out of the terminal and in a file we can read."""
    saved = os.dup(2)
    try:
        with open(path, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def auth_hint() -> str:
    """What to set so a client passes a cluster's token authentication (said in each refusal)."""
    return ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the cluster's token (`ray get-auth-token` on the head "
            "node prints it; or put it in ~/.ray/auth_token), on the driver and on every `ray start`")


def connect(address: str, threads: int = 1):
    """ray.init for `address` ("local": a private local cluster); RayUnavailableError in one line."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    package = str(Path(__file__).resolve().parents[1])     # the arelu_core folder, shipped to workers
    kwargs = dict(runtime_env={"py_modules": [package]}, log_to_driver=False, configure_logging=False,
                  include_dashboard=False)
    if address == "local":
        try:
            ray.init(_node_ip_address="127.0.0.1", **kwargs)   # a private cluster stays on loopback
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise RayUnavailableError(f"cannot start a local Ray ({reason})") from None
        return ray
    _check_reachable(address)
    # Something listens there: Ray's default 20 one-second tries at its cluster id only delay a refusal
    # (an auth refusal looks the same to it). Only for this connect; the user's own setting wins.
    saved_wait = os.environ.get("RAY_gcs_server_port_wait_time_s")
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(GCS_TRIES))
    with tempfile.TemporaryDirectory() as scratch:
        log = os.path.join(scratch, "ray_connect.log")
        try:
            with _native_stderr_to(log):
                ray.init(address=address, **kwargs)
        except Exception as exc:   # ConnectionError, AuthenticationError, RuntimeError, ValueError (bad address)
            ray.shutdown()
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            native = Path(log).read_text(errors="replace")
            if type(exc).__name__ == "AuthenticationError" or any(word in native for word in AUTH_REFUSED):
                given = "no token was given" if type(exc).__name__ == "AuthenticationError" else (
                    "this client's token is not the cluster's" if os.environ.get("RAY_AUTH_MODE") == "token"
                    else "this client sent no token (RAY_AUTH_MODE is not token)")
                raise RayAuthError(f"the Ray cluster at {address!r} refused the connection: token authentication, "
                                   f"and {given}; {auth_hint()}") from None
            raise RayUnavailableError(f"cannot reach the Ray cluster at {address!r} ({reason}); "
                                      f"start one with `ray start --head` or use --ray local") from None
        finally:
            if saved_wait is None:
                os.environ.pop("RAY_gcs_server_port_wait_time_s", None)
    return ray


def _check_reachable(address: str) -> None:
    """ray.init keeps retrying an address where nothing listens (minutes): try the port first."""
    import socket
    if ":" not in address.removeprefix("ray://"):
        return                         # "auto" (RAY_ADDRESS / a local `ray start`): Ray resolves it
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as exc:
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address!r} "
                                  f"({getattr(exc, 'strerror', None) or exc}); start one with `ray start --head` "
                                  f"or use --ray local") from None


# ---------------------------------------------------------------- resources

def alive_nodes(ray) -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _describe(nodes: list[dict]) -> str:
    return ", ".join(f"{n.get('NodeManagerAddress', '?')} {n['Resources'].get('CPU', 0):g} CPU"
                     + (f" {n['Resources']['GPU']:g} GPU" if n["Resources"].get("GPU") else "") for n in nodes) or "none"


def task_resources(nodes: list[dict], device: str, threads: int) -> dict:
    """One task's request: a GPU (and a CPU) where a node has one and the device allows it, else
    min(threads, the largest node's CPUs); RayInfeasibleError where no node can hold even that."""
    gpu_nodes = [n for n in nodes if n["Resources"].get("GPU", 0) >= 1 and n["Resources"].get("CPU", 0) >= 1]
    if device == "cuda" and not gpu_nodes:
        raise RayInfeasibleError(f"--device cuda, but no node of the Ray cluster has a GPU and a CPU free to "
                                 f"hold a run (nodes: {_describe(nodes)}); use --device auto or cpu")
    if gpu_nodes and device in ("auto", "cuda"):
        return {"num_gpus": 1, "num_cpus": 1}
    largest = max((int(n["Resources"].get("CPU", 0)) for n in nodes), default=0)
    if largest < 1:
        raise RayInfeasibleError(f"no node of the Ray cluster has a whole CPU to hold a run (nodes: "
                                 f"{_describe(nodes)}); start nodes with `ray start --num-cpus N`")
    return {"num_cpus": max(1, min(int(threads or 1), largest))}


def fits(request: dict, node: dict) -> bool:
    have = node["Resources"]
    return have.get("CPU", 0) >= request.get("num_cpus", 0) and have.get("GPU", 0) >= request.get("num_gpus", 0)


def _check_some_node_fits(ray, request: dict, address: str) -> None:
    nodes = alive_nodes(ray)
    if not any(fits(request, n) for n in nodes):
        wanted = " and ".join(f"{v:g} {k.removeprefix('num_').upper()}" for k, v in request.items() if v)
        raise RayInfeasibleError(f"no alive node of the Ray cluster at {address!r} can hold a run ({wanted} each; "
                                 f"nodes now: {_describe(nodes)}); the tasks would wait forever: add a node or rerun "
                                 f"(finished runs are kept)")


# ---------------------------------------------------------------- the task

def node_label() -> str:
    """This Ray node as a user finds it: host name, IP and the start of Ray's node id."""
    import socket
    import ray
    node_id = ray.get_runtime_context().get_node_id() or "?"
    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, Ray node {node_id[:8]})"


def run_task(fn, item: dict, data_dir, device: str, cpus: int, datasets: tuple[str, ...]):
    """What each Ray task runs: torch threads = the CPUs granted, the data looked for, then fn."""
    import torch
    from ..data import dataset_available, dataset_folder, dataset_info
    torch.set_num_threads(cpus)
    if "threads" in item:
        item = {**item, "threads": cpus}
    for name in datasets:
        if not dataset_available(name, data_dir):   # never a download: a cluster node may be offline
            raise DataUnavailableError(
                f"{dataset_info(name).name} is missing on Ray node {node_label()}: {dataset_folder(name, data_dir)} "
                f"does not hold it; copy the dataset there or start that node's `ray start` with ARELU_DATA_DIR "
                f"set to a folder holding it")
    return fn(item, data_dir, device)


def run_on_ray(fn: Callable[..., dict], items: list[dict], address: str, on_result: Callable[[dict], None], *,
               data_dir=None, device: str = "auto", threads: int = 1, datasets=(),
               should_stop: Callable[[], bool] | None = None) -> int:
    """fn(item, data_dir, device) for every item as a Ray task; on_result(record) as each one finishes.

    `datasets`: what each task needs on its node (checked there first). Returns how many finished. A
    task that fails for good (its own exception, or retries used up) raises here after the finished
    ones were handed on; the remaining tasks are cancelled.
    """
    ray = connect(address, threads)
    request = task_resources(alive_nodes(ray), device, threads)
    _check_some_node_fits(ray, request, address)
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False, **request)(run_task)
    cpus = int(request["num_cpus"])
    pending = [task.remote(fn, item, data_dir, device, cpus, tuple(datasets)) for item in items]
    finished, checked = 0, time.monotonic()
    try:
        while pending:
            if should_stop and should_stop():
                break
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                on_result(_get(ray, ref, finished))
                finished += 1
            if pending and time.monotonic() - checked > NODE_CHECK_S:   # a node lost can leave no home
                _check_some_node_fits(ray, request, address)
                checked = time.monotonic()
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return finished


def _get(ray, ref, finished: int) -> dict:
    from ..errors import AReLULabError
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)    # the task's own exception (its str: without Ray's traceback)
        if isinstance(cause, AReLULabError):   # e.g. the dataset missing on a worker: its own one line
            raise type(cause)(str(cause).strip().splitlines()[0]) from None
        raise RayUnavailableError(f"a Ray task failed: {str(getattr(exc, 'cause', exc)).splitlines()[0][:200]}") from None
    except ray.exceptions.RayError as exc:     # WorkerCrashedError, NodeDiedError, ObjectLostError, ...
        tries = MAX_RETRIES + 1
        raise RayWorkerLostError(f"a Ray worker running one run was lost ({type(exc).__name__}) on each of {tries} "
                                 f"tr{'ies' if tries > 1 else 'y'}; the runs finished ({finished} in this call) are "
                                 f"kept: rerun the same command to continue") from None
