"""The server side of the load tests: start `streamlit run app.py` on 127.0.0.1, wait until it answers,
sample its resident memory (the process and its children), stop it, and sort the tracebacks of its log."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).absolute().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, env: dict, log_path: Path) -> subprocess.Popen:
    # No file watcher: a classroom server never reloads code, and on a development tree (with .venv inside)
    # the watcher's inotify queue overflows whenever files change, which only adds noise to the figures.
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
               "--server.runOnSave", "false"]
    log = open(log_path, "w")
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer in {timeout:.0f} s")


class RssSampler(threading.Thread):
    """Resident memory of the server and its children, every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        import psutil
        self.process, self.every = psutil.Process(pid), every
        self.samples: list[float] = []
        self.stop = threading.Event()

    def rss_mb(self) -> float:
        import psutil
        total = 0
        try:
            for p in [self.process, *self.process.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return 0.0
        return total / 2**20

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.rss_mb())
            self.stop.wait(self.every)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def classify_tracebacks(log_text: str) -> tuple[list[str], list[str]]:
    """Tracebacks in the server log: those passing through our code, and Streamlit/uvicorn-internal ones
    (e.g. a websocket torn down mid-handshake when a tab closes abruptly), which are reported apart."""
    blocks = log_text.split("Traceback (most recent call last)")[1:]
    ours, internal = [], []
    for block in blocks:
        frames = re.findall(r'File "([^"]+)"', block)
        mine = any(("/site-packages/" not in f) and ("/pages/" in f or "/arelu_core/" in f or f.endswith("app.py"))
                   for f in frames)
        (ours if mine else internal).append(block.strip())
    return ours, internal
