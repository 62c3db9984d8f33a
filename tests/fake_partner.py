"""A partner gateway reduced to what the crash-safety tests need: it stores what it receives and answers with a
signed receipt.

Run as a real process (``python -m tests.fake_partner --port P --key K --cert C --store DB --code TH``). Each
delivery is stored once per Message-ID in a SQLite file (the certificate number, the digest of the bytes, how many
times that Message-ID came); a Message-ID seen before gets the stored receipt again, as wire protocol v1 asks. It
does not check the HTTP signature: the tests are about the sender, and this is the network edge.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adapters import ADAPTERS, AdapterError, Receipt, ReceiptOutcome, render_receipt
from signing.keys import SigningKey, load_signing_key
from signing.xmldsig import SignaturePlacement, sign_xml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = """CREATE TABLE IF NOT EXISTS received (
    message_id TEXT PRIMARY KEY, certificate TEXT, sha256 TEXT NOT NULL, deliveries INTEGER NOT NULL,
    receipt BLOB NOT NULL)"""


class FakePartner:
    def __init__(self, code: str, key: SigningKey, store: Path) -> None:
        self.code = code
        self.key = key
        self.store = store
        self._lock = threading.Lock()
        with sqlite3.connect(store) as connection:
            connection.execute(SCHEMA)

    def certificate_number(self, body: bytes, document_type: str) -> str | None:
        adapter = ADAPTERS.get(document_type)
        if adapter is None:
            return None
        try:
            return adapter.parse(body).certificate.number
        except AdapterError:
            return None

    async def inbox(self, request: Request) -> Response:
        body = await request.body()
        message_id = uuid.UUID(request.headers["Message-ID"])
        document_type = request.headers.get("Document-Type", "")
        with self._lock, sqlite3.connect(self.store) as connection:
            row = connection.execute("SELECT receipt FROM received WHERE message_id = ?", (str(message_id),)).fetchone()
            if row is not None:
                connection.execute(
                    "UPDATE received SET deliveries = deliveries + 1 WHERE message_id = ?", (str(message_id),)
                )
                return Response(row[0], media_type="application/xml")
            number = self.certificate_number(body, document_type)
            receipt = Receipt(
                receipt_id=uuid.uuid4(),
                issued_at=datetime.now(UTC),
                sender=self.code,
                receiver=request.headers["From"],
                outcome=ReceiptOutcome.ACCEPTED,
                message_id=message_id,
                certificate_number=number,
                document_type=document_type,
                received_sha256=hashlib.sha256(body).hexdigest(),
            )
            signed = sign_xml(render_receipt(receipt), self.key, SignaturePlacement.UBL_EXTENSION)
            connection.execute(
                "INSERT INTO received (message_id, certificate, sha256, deliveries, receipt) VALUES (?, ?, ?, 1, ?)",
                (str(message_id), number, receipt.received_sha256, signed),
            )
        return Response(signed, media_type="application/xml")

    def app(self) -> Starlette:
        async def ready(_: Request) -> Response:
            return PlainTextResponse("ready")

        return Starlette(routes=[Route("/v1/inbox", self.inbox, methods=["POST"]), Route("/readyz", ready)])


@dataclass
class FakePartnerProcess:
    """This module run as its own process on a loopback port (for the crash-safety test and bench/scale.py)."""

    port: int
    store: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, key: Path, cert: Path) -> FakePartnerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.fake_partner", "--port", str(self.port), "--key", str(key), "--cert",
                 str(cert), "--store", str(self.store), "--code", "TH"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the fake partner did not start: {self.log.read_text()[-2000:]}")

    def registration(self, ca_pem: str, formats: list[str]) -> dict[str, object]:
        """The body of POST /v1/partners that registers this fake as TH, trusted through ``ca_pem``."""
        return {
            "code": "TH",
            "name": "Thai customs (fake)",
            "country": "TH",
            "inbox_url": f"http://127.0.0.1:{self.port}/v1/inbox",
            "formats": formats,
            "trust": [{"kind": "ca", "certificate_pem": ca_pem}],
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def received(self) -> list[tuple[str, str | None, int]]:
        with sqlite3.connect(self.store) as connection:
            return connection.execute("SELECT message_id, certificate, deliveries FROM received").fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", type=Path, required=True, help="PEM private key the receipts are signed with")
    parser.add_argument("--cert", type=Path, required=True, help="its certificate")
    parser.add_argument("--store", type=Path, required=True, help="SQLite file of what was received")
    parser.add_argument("--code", default="TH", help="this partner's connection code")
    args = parser.parse_args()
    partner = FakePartner(args.code, load_signing_key(args.key, args.cert), args.store)
    uvicorn.run(partner.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
