"""Safe defaults for a shared machine.

- .streamlit/config.toml binds 127.0.0.1, caps uploads at 5 MB, keeps XSRF on, turns telemetry off,
  shows no tracebacks and skips Streamlit's per-rerun full garbage collection; no page raises the
  upload cap above it.
- A server started with nothing but that config listens on loopback only, refuses an upload without the
  XSRF token, and makes no outbound network call while it starts and serves pages: every socket connect
  and name lookup in the server process is recorded by an audit hook, the proxy variables point at a
  local trap that must stay silent, and the browser sees no request leave 127.0.0.1 (no telemetry,
  no web fonts, no CDN).
- The README says how to open the app to a classroom safely.
"""
from __future__ import annotations

import ast
import http.client
import json
import os
import socket
import threading
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from streamlit_server import ERROR_SELECTORS, launch_chromium, running_server, wait_until_idle

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"}


def config() -> dict:
    return tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())


def test_config_toml_is_safe_by_default():
    cfg = config()
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["maxUploadSize"] == 5
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"].get("headless", True) is True          # never tries to open a browser on the host
    assert cfg["client"]["showErrorDetails"] in ("none", False)    # no tracebacks shown to students
    assert cfg["server"].get("enableStaticServing", False) is False
    assert cfg["server"].get("runOnSave", False) is False
    # Streamlit's full gc.collect() after every rerun cost ~0.4 s each with torch loaded: 10 sessions
    # watching a race starved the trainings (scripts/load_test.py: 1 of 10 jobs done in 5 min with it on).
    assert cfg["runner"]["postScriptGC"] is False


def test_no_page_raises_the_upload_limit_above_the_config():
    """st.file_uploader(max_upload_size=...) overrides server.maxUploadSize in the browser: don't."""
    limit = config()["server"]["maxUploadSize"]
    for path in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "file_uploader", "chat_input"):
                for keyword in node.keywords:
                    if keyword.arg == "max_upload_size":
                        value = keyword.value
                        assert isinstance(value, ast.Constant) and value.value <= limit, (
                            f"{path.name}:{node.lineno} sets max_upload_size above the {limit} MB of config.toml")


def test_readme_says_how_to_expose_the_app_safely():
    readme = (REPO / "README.md").read_text()
    assert "### Opening the app to a classroom network" in readme
    section = readme.split("### Opening the app to a classroom network", 1)[1].split("\n## ", 1)[0]
    for needed in ("127.0.0.1", "--server.address", "trusted network", "firewall", "reverse proxy", "TLS",
                   "authentication", "5 MB", "XSRF", "telemetry", "ARELU_MAX_JOBS"):
        assert needed in section, f"the README's classroom section does not mention {needed!r}"


# --------------------------------------------------------------------------- a real server, watched

AUDIT_HOOK = '''
import json, os, socket, sys
_LOG = os.environ.get("ARELU_NET_AUDIT")
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1", "0.0.0.0", "", None}

def _note(kind, host, port):
    if isinstance(host, (bytes, bytearray)):
        host = host.decode(errors="replace")
    if host in _LOOPBACK or (isinstance(host, str) and host.startswith("127.")):
        return
    with open(_LOG, "a") as f:
        f.write(json.dumps({"kind": kind, "host": str(host), "port": str(port)}) + "\\n")

def _hook(event, args):
    try:
        if event == "socket.connect" or event == "socket.sendto":
            sock, address = args[0], args[-1]
            if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
                _note(event, address[0], address[1])
        elif event == "socket.getaddrinfo":
            _note(event, args[0], args[1])
        elif event == "urllib.Request":
            _note(event, args[0], "")
    except Exception:
        pass

if _LOG:
    sys.addaudithook(_hook)
'''


class ProxyTrap:
    """A local port named as the HTTP(S) proxy: any outbound call through a proxy-aware client lands here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.hits.append(conn.recv(200))
                except OSError:
                    self.hits.append(b"")

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def watched_server(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("watched")
    (folder / "hook").mkdir()
    (folder / "hook" / "sitecustomize.py").write_text(AUDIT_HOOK)
    audit = folder / "net-audit.jsonl"
    trap = ProxyTrap()
    proxy = f"http://127.0.0.1:{trap.port}"
    env = {"ARELU_NET_AUDIT": str(audit), "ARELU_DATA_DIR": data_dir,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(folder / "hook"), os.environ.get("PYTHONPATH")])),
           "http_proxy": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
           "all_proxy": proxy, "ALL_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    try:
        # No --server.address: the repository's config.toml alone decides where it listens.
        with running_server(env=env, log_dir=folder, bind_loopback=False) as server:
            yield {"server": server, "audit": audit, "trap": trap}
    finally:
        trap.close()


def test_the_server_listens_on_loopback_only(watched_server):
    server = watched_server["server"]
    process = psutil.Process(server.proc.pid)
    listening = [c for p in [process, *process.children(recursive=True)] for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening, "the server listens nowhere?"
    assert all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening), listening
    assert {c.laddr.port for c in listening} == {server.port}


def test_an_upload_without_the_xsrf_token_is_refused(watched_server):
    server = watched_server["server"]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("PUT", "/_stcore/upload_file/some-session/some-file", body=b"x" * 10,
                       headers={"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    body = response.read()
    assert response.status == 403 and b"XSRF" in body, (response.status, body[:200])
    connection.request("GET", "/_stcore/health")    # where the browser gets its token
    response = connection.getresponse()
    response.read()
    assert "_streamlit_xsrf" in (response.getheader("Set-Cookie") or "")


def test_no_outbound_network_at_start_and_while_serving_pages(watched_server):
    """Start-up, then a browser session that visits pages: not one connection leaves the machine."""
    from playwright.sync_api import sync_playwright
    server = watched_server["server"]
    leaving: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda request: leaving.append(request.url)
                    if urlsplit(request.url).hostname not in LOOPBACK and urlsplit(request.url).scheme in ("http", "https", "ws", "wss")
                    else None)
            for path in ("/", "/train_live", "/explore", "/inspect_digit"):
                page.goto(server.url + path)
                wait_until_idle(page, timeout_s=120)
                errors = page.locator(ERROR_SELECTORS)
                assert errors.count() == 0, f"{path}: {errors.first.inner_text()[:300]}"
            page.close()
        finally:
            browser.close()
    time.sleep(0.5)
    audit = watched_server["audit"]
    attempts = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    assert not attempts, f"the server reached out: {attempts[:10]}"
    assert not watched_server["trap"].hits, f"something used the proxy: {watched_server['trap'].hits[:5]}"
    assert not leaving, f"the page fetched from outside: {leaving[:10]}"


def test_the_audit_hook_does_see_outbound_attempts(tmp_path):
    """The watch above is not blind: the same hook records a lookup and a connect in a child process."""
    import subprocess
    import sys
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(AUDIT_HOOK)
    audit = tmp_path / "audit.jsonl"
    code = ("import socket\n"
            "try:\n    socket.getaddrinfo('example.invalid', 443)\nexcept OSError:\n    pass\n"
            "s = socket.socket(); s.settimeout(0.2)\n"
            "try:\n    s.connect(('192.0.2.1', 9))\nexcept OSError:\n    pass\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env={**os.environ, "ARELU_NET_AUDIT": str(audit), "PYTHONPATH": str(tmp_path / "hook")})
    kinds = {json.loads(line)["kind"]: json.loads(line)["host"] for line in audit.read_text().splitlines()}
    assert kinds.get("socket.getaddrinfo") == "example.invalid" and kinds.get("socket.connect") == "192.0.2.1"
