"""With --ray, stdout carries only the CLI's own output: Ray's background threads print the cluster's
messages into sys.stdout (a raylet line after the --json result broke its last line in CI), its native code
writes to file descriptor 1, and at exit it drains messages on the main thread. All must reach stderr."""
import subprocess
import sys

SCRIPT = """
import os, sys, threading
from arelu_core.cli import _ray_output_done, _ray_output_to_stderr
_ray_output_to_stderr()
print("ours: first")
thread = threading.Thread(target=lambda: print("    [..] (raylet) a node died"))
thread.start(); thread.join()
os.write(1, b"native line\\n")
print('{"status": "finished"}')
_ray_output_done()
print("    [..] (raylet) drained at exit, on the main thread")
os.write(1, b"native at exit\\n")
"""


def test_ray_mode_keeps_stdout_for_our_prints_only(repo):
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=repo, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["ours: first", '{"status": "finished"}']
    assert "(raylet) a node died" in run.stderr and "native line" in run.stderr
    assert "drained at exit" in run.stderr and "native at exit" in run.stderr     # after our last line
