"""Client certificates for real (ADR 0015): ``tradegw serve`` terminating TLS itself, and nginx in front of it.

Real processes on 127.0.0.1, real TLS handshakes, real certificates: ``tradegw serve --tls-cert --tls-key
--client-ca`` refuses a client without a certificate from the client CA in the handshake and hands the verified
certificate to the application; nginx with ``ssl_verify_client on`` passes it as ``$ssl_client_escaped_cert`` to a
gateway that trusts 127.0.0.1 as its proxy. Either way, a partner bound to a certificate is served with that
certificate and refused (401) with any other. What the database holds does not matter to TLS: SQLite only.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from gateway.delivery.http import PartnerClients
from tests.conftest import ROOT
from tests.harness import GatewayProcess, TlsFiles, free_port
from tests.pki import Issued, make_ca, make_tls_client, make_tls_server

NGINX_START_TIMEOUT = 30.0


def nginx_command() -> str | None:
    # Debian installs nginx in /usr/sbin, which is not on every user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class Pki:
    """Files for one test run: the server's certificate, the client CA and the certificates clients present."""

    server: tuple[Path, Path]
    server_ca: Path
    client_ca: Path
    clients: dict[str, Issued]  # by who presents it: operator, TH, ID, outsider (another CA)
    files: dict[str, tuple[Path, Path]]  # their certificate and key files

    def tls(self, who: str | None, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A client context that trusts the server and presents ``who``'s certificate (None: no certificate)."""
        context = ssl.create_default_context(cafile=self.server_ca)
        if who is not None:
            context.load_cert_chain(*self.files[who])
        if version is not None:
            context.maximum_version = version
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("tls-pki")
    server_ca, client_ca = make_ca("gateway server CA"), make_ca("gateway client CA")
    (directory / "server-ca.pem").write_text(server_ca.pem)
    (directory / "client-ca.pem").write_text(client_ca.pem)
    clients = {
        "operator": make_tls_client(client_ca, "operator"),
        "TH": make_tls_client(client_ca, "Thai customs gateway"),
        "ID": make_tls_client(client_ca, "Indonesian customs gateway"),
        "outsider": make_tls_client(make_ca("somebody else's CA"), "Thai customs gateway"),
    }
    return Pki(
        server=make_tls_server(server_ca).write(directory, "server"),
        server_ca=directory / "server-ca.pem",
        client_ca=directory / "client-ca.pem",
        clients=clients,
        files={who: issued.write(directory, who) for who, issued in clients.items()},
    )


def register_bound_partners(gateway: GatewayProcess, pki: Pki) -> dict[str, str]:
    """Partners TH and ID, each bound to its own client certificate; returns a partner API key for each."""
    keys = {}
    with gateway.client() as http:
        for code in ("TH", "ID"):
            body = {
                "code": code,
                "name": f"{code} customs",
                "country": code,
                "inbox_url": f"https://{code.lower()}.example/v1/inbox",
                "formats": ["ubl-coo-2.1"],
                "trust": [{"kind": "ca", "certificate_pem": make_ca(f"{code} signing CA").pem}],
                "client_cert_sha256": [pki.clients[code].sha256],
            }
            http.post("/v1/partners", json=body).raise_for_status()
            keys[code] = gateway.add_client("partner", code)
    return keys


# ----- tradegw serve terminates TLS ----------------------------------------------------------------------------


@dataclass
class Served:
    gateway: GatewayProcess
    keys: dict[str, str]  # partner API keys by partner code

    def get(self, path: str, context: ssl.SSLContext, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.gateway.admin_key}"}
        return httpx.get(f"{self.gateway.base_url}{path}", headers=headers, verify=context, timeout=30.0)


@pytest.fixture(scope="module")
def served(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("tls-serve")
    tls = TlsFiles(*pki.server, server_ca=pki.server_ca, client_ca=pki.client_ca, identity=pki.files["operator"])
    gateway = GatewayProcess("GW", "JP", root / "gw", f"sqlite:///{root / 'gw.db'}", tls=tls)
    try:
        gateway.start()
        yield Served(gateway, register_bound_partners(gateway, pki))
    finally:
        gateway.stop()


def test_a_client_with_a_certificate_from_the_client_ca_is_served(served: Served, pki: Pki) -> None:
    answer = served.get("/v1/partners", pki.tls("operator"))
    assert answer.status_code == 200
    assert answer.url.scheme == "https"
    assert [p["code"] for p in answer.json()["partners"]] == ["ID", "TH"]


def test_deliveries_present_the_configured_client_certificate_to_a_partner_that_asks(served: Served, pki: Pki) -> None:
    """Our own outbound side (the delivery worker's and the witness's HTTP clients), against a partner server that
    requires client certificates: with GATEWAY_DELIVERY_CLIENT_CERT/KEY it is served as that certificate's
    partner, without them the handshake fails."""
    server_ca = pki.server_ca.read_text()
    url = f"{served.gateway.base_url}/v1/partners/TH"
    as_th = {"Authorization": f"Bearer {served.keys['TH']}"}
    identified = PartnerClients(10.0, identity=pki.files["TH"])
    unidentified = PartnerClients(10.0)
    try:
        assert identified.get("GW", server_ca).get(url, headers=as_th).status_code == 200
        with pytest.raises(httpx.HTTPError):
            unidentified.get("GW", server_ca).get(url, headers=as_th)
    finally:
        identified.close()
        unidentified.close()


@pytest.mark.parametrize("who", [None, "outsider"], ids=["no-certificate", "certificate-of-another-ca"])
def test_a_client_without_a_certificate_from_the_client_ca_fails_the_handshake(
    served: Served, pki: Pki, who: str | None
) -> None:
    # TLS 1.2: the server's alert ends the handshake itself.
    with pytest.raises(httpx.ConnectError):
        served.get("/readyz", pki.tls(who, version=ssl.TLSVersion.TLSv1_2))
    # TLS 1.3: the client's side of the handshake is complete before the server has judged its certificate; the
    # server then closes the connection (or sends its alert), and no HTTP answer ever comes.
    with pytest.raises(httpx.TransportError):
        served.get("/readyz", pki.tls(who, version=ssl.TLSVersion.TLSv1_3))
    assert served.get("/readyz", pki.tls("operator")).status_code == 200


def test_a_partner_key_is_served_only_with_the_certificate_bound_to_its_partner(served: Served, pki: Pki) -> None:
    th, indonesia = served.keys["TH"], served.keys["ID"]
    assert served.get("/v1/partners/TH", pki.tls("TH"), th).status_code == 200
    assert served.get("/v1/partners/ID", pki.tls("ID"), indonesia).status_code == 200
    # Partner TH's certificate with partner ID's key: the handshake holds (the client CA issued it), the binding not.
    refused = served.get("/v1/partners/ID", pki.tls("TH"), indonesia)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "client-certificate-mismatch" in refused.json()["detail"]
    assert served.get("/v1/partners/TH", pki.tls("operator"), th).status_code == 401


def test_serve_refuses_an_incomplete_or_unusable_tls_setup_before_starting(pki: Pki, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    certificate, _ = pki.server
    _, other_key = pki.files["TH"]
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["--client-ca", str(pki.client_ca)], {}, "a client CA needs TLS"),
        ([], {"GATEWAY_CLIENT_CA": str(pki.client_ca)}, "a client CA needs TLS"),  # the settings say the same
        (["--tls-cert", str(certificate)], {}, "go together"),
        (["--tls-cert", str(certificate), "--tls-key", str(other_key)], {}, "cannot serve TLS"),
        (["--tls-cert", str(certificate), "--tls-key", str(tmp_path / "missing.pem")], {}, "cannot serve TLS"),
    ]
    for args, settings, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--port", str(free_port()), *args],
            cwd=ROOT,
            env={**clean, "GATEWAY_DATA_DIR": str(tmp_path), **settings},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (args, settings, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr


# ----- nginx in front -------------------------------------------------------------------------------------------


class Nginx:
    """nginx in the foreground (``daemon off``) with everything it writes in one directory; stopped by its pid."""

    def __init__(self, directory: Path, pki: Pki, upstream: str) -> None:
        self.directory = directory
        self.port = free_port()
        certificate, key = pki.server
        temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(parents=True, exist_ok=True)
        # As root, the workers would switch to "nobody", who cannot enter pytest's private temporary directory.
        user = "user root;" if os.geteuid() == 0 else ""
        self.config = directory / "nginx.conf"
        self.config.write_text(
            f"""
daemon off;
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        ssl_client_certificate {pki.client_ca};
        ssl_verify_client on;
        location / {{
            proxy_pass {upstream};
            # Set, never appended: whatever a client sends under this name is replaced by what nginx verified.
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        }}
    }}
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, probe: ssl.SSLContext) -> None:
        nginx = nginx_command()
        assert nginx is not None
        log = (self.directory / "stderr.log").open("ab")
        self.process = subprocess.Popen(
            [nginx, "-p", str(self.directory), "-c", str(self.config), "-e", str(self.directory / "error.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + NGINX_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", verify=probe, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not answer in {NGINX_START_TIMEOUT} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its workers, then itself
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def tail(self) -> str:
        logs = [self.directory / "stderr.log", self.directory / "error.log"]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())


@dataclass
class Proxied:
    nginx: Nginx
    gateway: GatewayProcess
    keys: dict[str, str]

    def get(self, path: str, context: ssl.SSLContext, key: str, **headers: str) -> httpx.Response:
        headers["Authorization"] = f"Bearer {key}"
        return httpx.get(f"{self.nginx.base_url}{path}", headers=headers, verify=context, timeout=30.0)


@pytest.fixture(scope="module")
def proxied(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    if nginx_command() is None:
        pytest.skip("nginx not installed: apt-get install nginx (.ci/run installs it)")
    root = tmp_path_factory.mktemp("nginx")
    gateway = GatewayProcess(
        "GW", "JP", root / "gw", f"sqlite:///{root / 'gw.db'}", env={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1"}
    )
    nginx = Nginx(root / "nginx", pki, gateway.base_url)
    try:
        gateway.start()
        keys = register_bound_partners(gateway, pki)
        nginx.start(pki.tls("operator"))
        yield Proxied(nginx, gateway, keys)
    finally:
        nginx.stop()
        gateway.stop()
    # No daemon is left behind: the master exited, and it removes its pid file on the way out.
    assert nginx.process is not None
    assert nginx.process.returncode is not None
    assert not (nginx.directory / "nginx.pid").exists()


def test_through_nginx_a_bound_partner_is_served_with_its_certificate_and_refused_with_another(
    proxied: Proxied, pki: Pki
) -> None:
    th = proxied.keys["TH"]
    served = proxied.get("/v1/partners/TH", pki.tls("TH"), th)
    assert served.status_code == 200, served.text
    assert served.json()["client_certificates"]["sha256"] == [pki.clients["TH"].sha256]
    # The ID gateway's certificate satisfies nginx (same client CA) but is not bound to TH.
    refused = proxied.get("/v1/partners/TH", pki.tls("ID"), th)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "client-certificate-mismatch" in refused.json()["detail"]


def test_through_nginx_a_header_sent_by_the_client_is_replaced_by_the_verified_certificate(
    proxied: Proxied, pki: Pki
) -> None:
    # The ID gateway claims TH's certificate in the header; nginx overwrites it with the one it verified.
    claimed = quote(pki.clients["TH"].pem, safe="")
    answer = proxied.get("/v1/partners/TH", pki.tls("ID"), proxied.keys["TH"], **{"X-SSL-Client-Cert": claimed})
    assert answer.status_code == 401


def test_nginx_itself_refuses_a_client_without_a_certificate(proxied: Proxied, pki: Pki) -> None:
    answer = proxied.get("/v1/partners/TH", pki.tls(None), proxied.keys["TH"])
    assert answer.status_code == 400  # nginx's own answer: "No required SSL certificate was sent"
    assert "problem+json" not in answer.headers.get("content-type", "")
