"""Run a grid's trainings as Ray tasks on any Ray cluster (`--ray ADDRESS`, or `--ray local`).

Ray is an optional extra (`pip install .[cluster]` or requirements-cluster.txt): nothing else imports
this module. Each training is one task with one GPU where the cluster has GPUs (else `threads` CPUs);
arelu_core itself travels to the workers (runtime_env py_modules), so a cluster needs only torch,
torchvision, timm and numba installed. Results come back as plain dicts and go to `on_result` one at
a time, as tasks finish: the caller appends each to its results file at once, so a crash of the
driver keeps every finished run, and a worker killed mid-run is retried (MAX_RETRIES).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError

MAX_RETRIES = 3                # a task whose worker dies (killed, node lost) runs again, up to this often
CONNECT_TIMEOUT_S = 10


class RayUnavailableError(ConfigError):
    """Ray is not installed, or the cluster cannot be reached."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("--ray needs Ray, which is not installed: pip install 'arelu-lab[cluster]' "
                                  "(or pip install -r requirements-cluster.txt)") from None
    return ray


def connect(address: str, threads: int = 1):
    """ray.init for `address` ("local": a private local cluster); RayUnavailableError in one line."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    package = str(Path(__file__).resolve().parents[1])     # the arelu_core folder, shipped to workers
    kwargs = dict(runtime_env={"py_modules": [package]}, log_to_driver=False, configure_logging=False,
                  include_dashboard=False)
    try:
        if address == "local":
            ray.init(**kwargs)
        else:
            _check_reachable(address)
            ray.init(address=address, **kwargs)
    except RayUnavailableError:
        raise
    except Exception as exc:   # ConnectionError, RuntimeError, ValueError (bad address), timeouts
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address!r} ({reason}); "
                                  f"start one with `ray start --head` or use --ray local") from None
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


def run_on_ray(fn: Callable[..., dict], items: list[dict], address: str, on_result: Callable[[dict], None], *,
               data_dir=None, device: str = "auto", threads: int = 1,
               should_stop: Callable[[], bool] | None = None) -> int:
    """fn(item, data_dir, device) for every item as a Ray task; on_result(record) as each one finishes.

    Returns how many finished. A task that fails for good (its own exception, or retries used up)
    raises here after the finished ones were handed on; the remaining tasks are cancelled.
    """
    ray = connect(address, threads)
    gpus = ray.cluster_resources().get("GPU", 0)
    options = {"num_gpus": 1, "num_cpus": 1} if gpus and device in ("auto", "cuda") else {"num_cpus": threads}
    if options.get("num_cpus", 0) > ray.cluster_resources().get("CPU", 0):
        options["num_cpus"] = max(1, int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False, **options)(fn)
    pending = [task.remote(item, data_dir, device) for item in items]
    finished = 0
    try:
        while pending:
            if should_stop and should_stop():
                break
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                on_result(_get(ray, ref))
                finished += 1
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return finished


def _get(ray, ref) -> dict:
    from ..errors import AReLULabError
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause() if hasattr(exc, "as_instanceof_cause") else exc
        if isinstance(cause, AReLULabError):   # e.g. the dataset missing on a worker: its own one line
            raise type(cause)(str(cause).splitlines()[0]) from None
        raise RayUnavailableError(f"a Ray task failed: {str(getattr(exc, 'cause', exc)).splitlines()[0][:200]}") from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
        raise RayUnavailableError(f"a Ray worker died {MAX_RETRIES + 1} times on one run ({type(exc).__name__}); "
                                  f"finished runs are kept, rerun to continue") from None
