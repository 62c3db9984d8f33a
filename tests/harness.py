"""Real gateway processes for end-to-end tests, the demo and the exchange benchmark.

Each :class:`GatewayProcess` is a ``tradegw serve`` on a loopback port with its own data directory (development
mode: its own dev PKI, keyring and admin key) and its own database. :func:`link` makes two gateways partners the
way operators do: each imports the other's signed capability document.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class TlsFiles:
    """HTTPS for a :class:`GatewayProcess`: its certificate and key, the CA clients verify it with, and optionally
    the CA whose client certificates it requires and the certificate the harness presents (readiness, admin calls)."""

    certificate: Path
    key: Path
    server_ca: Path
    client_ca: Path | None = None
    identity: tuple[Path, Path] | None = None  # (certificate, key)

    def context(self, identity: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A client context trusting the server, presenting ``identity`` (default: the harness's own)."""
        context = ssl.create_default_context(cafile=self.server_ca)
        chosen = identity or self.identity
        if chosen is not None:
            context.load_cert_chain(*chosen)
        return context


@dataclass
class GatewayProcess:
    code: str
    country: str
    data_dir: Path
    database_url: str
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    tls: TlsFiles | None = None
    name: str = "serve"  # several processes may share a data directory (replicas): each logs to <name>.log
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return self.tls.context() if self.tls is not None else True

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "dev-admin.key").read_text().strip()

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            {
                "GATEWAY_ENV": "development",
                "GATEWAY_DATA_DIR": str(self.data_dir),
                "GATEWAY_DATABASE_URL": self.database_url,
                "GATEWAY_GATEWAY_CODE": self.code,
                "GATEWAY_GATEWAY_NAME": f"{self.code} customs (test)",
                "GATEWAY_GATEWAY_COUNTRY": self.country,
                "GATEWAY_PUBLIC_INBOX_URL": f"{self.base_url}/v1/inbox",
                "GATEWAY_LOG_LEVEL": "INFO",
                # Retries within a test's patience: first retry after 0.2 s, never more than 1 s apart, for about
                # a minute (a partner restarted in a test is back within seconds).
                "GATEWAY_DELIVERY_BACKOFF_SECONDS": "0.2",
                "GATEWAY_DELIVERY_BACKOFF_MAX_SECONDS": "1",
                "GATEWAY_DELIVERY_MAX_ATTEMPTS": "60",
                "GATEWAY_DELIVERY_POLL_SECONDS": "0.05",
                "GATEWAY_DELIVERY_TIMEOUT_SECONDS": "10",
                # Checkpoints signed and partners' checkpoints checked within a test's patience too.
                "GATEWAY_AUDIT_CHECKPOINT_SECONDS": "1",
                "GATEWAY_AUDIT_WITNESS_SECONDS": "0.5",
            }
        )
        env.update(self.env)
        return env

    def start(self) -> GatewayProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.tls is not None:
            command += ["--tls-cert", str(self.tls.certificate), "--tls-key", str(self.tls.key)]
            if self.tls.client_ca is not None:
                command += ["--client-ca", str(self.tls.client_ca)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.code} gateway exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0, verify=self.verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.code} gateway did not become ready in {START_TIMEOUT} s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key or self.admin_key}"},
            timeout=30.0,
            verify=self.verify,
        )

    def add_client(self, role: str, partner: str | None = None) -> str:
        body: dict[str, Any] = {"role": role, "name": f"{role} (test)"}
        if partner is not None:
            body["partner_code"] = partner
        with self.client() as http:
            answer = http.post("/v1/clients", json=body)
            answer.raise_for_status()
            key: str = answer.json()["key"]
            return key


@dataclass
class WorkerProcess:
    """A ``tradegw worker`` with the environment of ``gateway`` (same database, keys and settings)."""

    gateway: GatewayProcess
    name: str = "worker"
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.gateway.data_dir / f"{self.name}.log"

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker"],
            cwd=ROOT,
            env=self.gateway.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def link(importer: GatewayProcess, exported: GatewayProcess) -> dict[str, Any]:
    """``importer`` registers ``exported`` as a partner from its signed capability document."""
    capability = httpx.get(f"{exported.base_url}/v1/directory/self", timeout=10.0, verify=exported.verify)
    capability.raise_for_status()
    with importer.client() as http:
        answer = http.post(
            "/v1/partners/import",
            content=capability.content,
            headers={"Content-Type": "application/json"},
            params={"code": exported.code},
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"import of {exported.code} into {importer.code}: {answer.status_code} {answer.text}")
        partner: dict[str, Any] = answer.json()
        return partner


def wait_for_state(
    gateway: GatewayProcess, exchange_id: str, states: set[str], timeout: float = 60.0, key: str | None = None
) -> dict[str, Any]:
    """Poll an exchange until it reaches one of ``states``; returns its detail (raises with it on timeout)."""
    deadline = time.monotonic() + timeout
    detail: dict[str, Any] = {}
    with gateway.client(key) as http:
        while time.monotonic() < deadline:
            answer = http.get(f"/v1/exchanges/{exchange_id}")
            answer.raise_for_status()
            detail = answer.json()
            if detail["state"] in states:
                return detail
            time.sleep(0.05)
    raise AssertionError(f"exchange {exchange_id} still {detail.get('state')} after {timeout} s: {json.dumps(detail)}")


def headers_of(response: httpx.Response) -> Mapping[str, str]:
    return dict(response.headers)
