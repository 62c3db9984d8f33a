"""`make demo`: two gateways on this machine exchange certificates of origin, told step by step.

JP (Japan) and TH (Thailand) run as two `tradegw serve` processes with their own SQLite databases and development
keys in a temporary directory. Each registers the other from its signed capability document. A trade platform
submits a UBL 2.4 certificate at JP for TH, which accepts UN/CEFACT JSON or the UBL 2.1 profile; then TH goes
down and comes back; then JP's directory is stale and TH rejects what it does not accept; then a certificate is
replaced and another withdrawn, and TH's registry follows; each gateway has witnessed the other's audit log, and
JP's log is exported and verified offline. Nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from adapters import ADAPTERS
from adapters.model import CertificateStatus
from gateway.migrate import upgrade
from tests.harness import GatewayProcess, link, wait_for_state

ROOT = Path(__file__).resolve().parent.parent
CERTIFICATE = ROOT / "tests" / "fixtures" / "coo" / "valid-10.xml"
FINAL = {"acknowledged", "acknowledged_with_warnings", "rejected_by_partner", "failed"}
UBL = ADAPTERS["ubl-coo-2.4"]
COUNTRY = UBL.parse(CERTIFICATE.read_bytes()).certificate.issuing_country


def say(step: str, text: str = "") -> None:
    print(f"\n== {step}")
    if text:
        print(textwrap.indent(text.rstrip(), "   "))


def show_exchange(detail: dict[str, Any]) -> str:
    lines = [f"state: {detail['state']} after {len(detail['attempt_log'])} attempt(s)"]
    for attempt in detail["attempt_log"]:
        error = f" — {attempt['error'][:80]}" if attempt["error"] else ""
        lines.append(f"  attempt {attempt['number']}: {attempt['outcome']} (HTTP {attempt['http_status']}){error}")
    if detail["receipt"]:
        receipt = detail["receipt"]
        lines.append(f"receipt: {receipt['outcome']}, {len(receipt['findings'])} finding(s)")
        lines += [f"  {f['severity']} {f['code']}: {f['message']}" for f in receipt["findings"][:5]]
    lines.append("audit history:")
    lines += [f"  #{h['index']} {h['action']} → {h['outcome']} (previous #{h['previous']})" for h in detail["history"]]
    return "\n".join(lines)


def _kind(exchange: dict[str, Any]) -> str:
    return "notice" if exchange["document_type"] == "DocumentStatus" else "certificate"


def submit_data(number: str) -> bytes:
    return CERTIFICATE.read_bytes().replace(b"TH-D-2026-0014873", number.encode())


def status_line(gateway: GatewayProcess, number: str) -> str:
    with gateway.client() as http:
        current = http.get(f"/v1/certificates/{COUNTRY}/{number}").json()["current"]
    by = f" by {current['replaced_by']}" if current["replaced_by"] else ""
    why = f" ({current['status_reason']})" if current["status_reason"] else ""
    return f"{gateway.code}: {number} {current['status']}{by}{why}"


def submit(jp: GatewayProcess, platform: str, number: str) -> dict[str, Any]:
    data = submit_data(number)
    with jp.client(platform) as http:
        answer = http.post(
            "/v1/exchanges",
            params={"to": "TH"},
            content=data,
            headers={"Content-Type": "application/xml", "Idempotency-Key": f"demo-{number}"},
        )
    answer.raise_for_status()
    accepted: dict[str, Any] = answer.json()
    return accepted


def witnessed(witness: GatewayProcess, partner: GatewayProcess) -> str:
    # The witnesses look every half second (harness settings): wait until what was received is checked.
    deadline = time.monotonic() + 20
    while True:
        with witness.client() as http:
            view = http.get(f"/v1/partners/{partner.code}").json()["witness"]
        if view["pending"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    verified = view["verified"] or {}
    plural = "" if view["checkpoints"] == 1 else "s"
    return (
        f"{witness.code} holds {view['checkpoints']} checkpoint{plural} of {partner.code}'s log: "
        f"consistent up to {verified.get('size', '-')} entries, {view['pending']} pending, "
        f"{view['inconsistent']} inconsistent"
    )


def audit(gateway: GatewayProcess, root: Path) -> str:
    time.sleep(1.5)  # the last entries are covered by the next checkpoint (signed every second here)
    key = httpx.get(f"{gateway.base_url}/v1/directory/self").json()["document"]["audit"]["verifier_key"]
    with gateway.client() as http:
        bundle = http.get("/v1/audit/export")
    bundle.raise_for_status()
    path = root / f"{gateway.code.lower()}-audit-export.json"
    path.write_bytes(bundle.content)
    command = [sys.executable, "-m", "gateway", "audit", "verify", str(path), "--key", key]
    verified = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if verified.returncode != 0:
        raise RuntimeError(f"the export does not verify: {verified.stderr}")
    return f"$ tradegw audit verify {path.name} --key {key}\n{verified.stdout.strip()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tradegw-demo-"))
    for code in ("jp", "th"):
        upgrade(f"sqlite:///{root / code}.db")
    jp = GatewayProcess("JP", "JP", root / "jp", f"sqlite:///{root / 'jp'}.db")
    th = GatewayProcess(
        "TH", "TH", root / "th", f"sqlite:///{root / 'th'}.db",
        env={"GATEWAY_ACCEPTED_FORMATS": '["edi3-coo-json", "ubl-coo-2.1"]'},
    )  # fmt: skip
    try:
        say("1. Two gateways start", f"JP on {jp.base_url}, TH on {th.base_url} (data under {root})")
        jp.start()
        th.start()
        for importer, exported in ((jp, th), (th, jp)):
            partner = link(importer, exported)
            pins = ", ".join(a["sha256"][:16] + "…" for a in partner["trust"])
            say(
                f"2. {importer.code} registers {exported.code} from its signed capability document",
                f"accepts: {', '.join(partner['formats'])}\npinned certificates: {pins}",
            )
        platform = jp.add_client("platform")

        accepted = submit(jp, platform, "JP-DEMO-0001")
        say(
            "3. A trade platform submits a UBL 2.4 certificate at JP for TH",
            f"202 queued: exchange {accepted['id']}\nsent as {accepted['sent_format']} (TH's first choice), "
            f"Message-ID {accepted['message_id']}",
        )
        detail = wait_for_state(jp, accepted["id"], FINAL)
        kinds = Counter(loss["kind"] for loss in detail["losses"] or [])
        sample = [f"{loss['kind']} {loss['field']}: {loss['reason']}" for loss in (detail["losses"] or [])[:4]]
        say(
            "4. The loss report of the translation UBL 2.4 → UN/CEFACT JSON",
            f"{dict(kinds)}\n" + "\n".join(sample) + "\n…",
        )
        say("5. TH verified, validated, stored and receipted; JP verified the receipt", show_exchange(detail))

        th.stop()
        accepted = submit(jp, platform, "JP-DEMO-0002")
        say("6. TH goes down; JP keeps the next certificate and retries", f"exchange {accepted['id']}")
        retrying = wait_for_state(jp, accepted["id"], {"retrying"})
        time.sleep(1.5)
        th.start()
        detail = wait_for_state(jp, accepted["id"], FINAL)
        say(
            "7. TH is back: delivered once, whatever the attempts",
            f"first failure: {retrying['last_error']}\n" + show_exchange(detail),
        )

        with jp.client() as http:
            http.patch("/v1/partners/TH", json={"formats": ["ubl-coo-2.4"]}).raise_for_status()
        accepted = submit(jp, platform, "JP-DEMO-0003")
        detail = wait_for_state(jp, accepted["id"], FINAL)
        say(
            "8. JP's directory is stale (says TH takes UBL 2.4): TH rejects, with a signed receipt — final",
            show_exchange(detail),
        )

        with jp.client() as http:
            http.patch("/v1/partners/TH", json={"formats": ["edi3-coo-json", "ubl-coo-2.1"]}).raise_for_status()
        replacement = UBL.render(
            UBL.parse(submit_data("JP-DEMO-0004")).certificate.model_copy(
                update={"status": CertificateStatus.REPLACEMENT, "replaces": "JP-DEMO-0001"}
            )
        ).data
        with jp.client(platform) as http:
            answer = http.post(
                "/v1/exchanges", params={"to": "TH"}, content=replacement, headers={"Content-Type": "application/xml"}
            )
        answer.raise_for_status()
        accepted = answer.json()
        wait_for_state(jp, accepted["id"], FINAL)
        for notice in accepted["replacement_notices"]:
            wait_for_state(jp, notice["id"], FINAL)
        say(
            "9. JP-DEMO-0004 replaces JP-DEMO-0001: delivered, and a signed 'replaced' notice about the old one",
            "\n".join(status_line(g, n) for g in (jp, th) for n in ("JP-DEMO-0001", "JP-DEMO-0004")),
        )

        with jp.client() as http:
            withdrawn = http.post(
                f"/v1/certificates/{COUNTRY}/JP-DEMO-0004/withdraw", json={"reason": "goods not shipped"}
            )
        withdrawn.raise_for_status()
        for notice in withdrawn.json()["notices"]:
            wait_for_state(jp, notice["id"], FINAL)
        say(
            "10. JP withdraws JP-DEMO-0004: TH's registry follows the signed notice",
            "\n".join(status_line(g, "JP-DEMO-0004") for g in (jp, th)),
        )

        with jp.client() as http:
            outbound = http.get("/v1/exchanges", params={"direction": "outbound"}).json()["exchanges"]
        with th.client() as http:
            inbound = http.get("/v1/exchanges", params={"direction": "inbound"}).json()["exchanges"]
        table = [
            f"JP → {e['partner']}  {e['certificate_number'] or '-':<14} {_kind(e):<12} {e['state']}"
            for e in reversed(outbound)
        ]
        table += [
            f"TH ← {e['partner']}  {e['certificate_number'] or '-':<14} {_kind(e):<12} {e['state']}"
            for e in reversed(inbound)
        ]
        say("11. Final states on both sides", "\n".join(table))
        say(
            "12. Each gateway witnessed the other's audit log",
            "\n".join(witnessed(a, b) for a, b in ((jp, th), (th, jp))),
        )
        say("13. An auditor exports JP's audit log and verifies it offline (no server, no database)", audit(jp, root))
    except Exception:
        print(json.dumps({"jp_log": jp.tail(20), "th_log": th.tail(20)}, indent=2))
        raise
    finally:
        jp.stop()
        th.stop()
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    say("Done", "both gateways stopped")


if __name__ == "__main__":
    main()
