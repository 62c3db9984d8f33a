"""The README's run command in a real process: starts, migrates, answers /readyz, validates with the dev key over
real HTTP, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import FIXTURES, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_in_development_mode_end_to_end(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "var"), "GATEWAY_ENV": "development"}
    env.pop("GATEWAY_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the server exited before it was ready"
            time.sleep(0.2)
        assert ready is not None
        assert ready.status_code == 200
        assert ready.json()["database"] == "sqlite"
        key = (tmp_path / "var" / "dev-admin.key").read_text().strip()
        assert oct((tmp_path / "var" / "dev-admin.key").stat().st_mode & 0o777) == "0o600"
        response = httpx.post(
            f"{base}/v1/validate",
            content=(FIXTURES / "coo" / "valid-10.xml").read_bytes(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
            timeout=30,
        )
        assert response.status_code == 200
        assert response.json()["valid"] is True
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    log = output.decode()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so that the exit status reports the signal.
    assert process.returncode in (0, -signal.SIGTERM), log[-2000:]
    assert "Application shutdown complete" in log
    assert "DEVELOPMENT MODE" in log
    assert '"event": "gateway stopped"' in log
