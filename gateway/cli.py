"""``tradegw``: the operator's command line (serve, migrate, manage API clients, validate files)."""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from gateway.auth.models import Role
from gateway.auth.repository import ApiClientRepository
from gateway.auth.service import authenticate, issue_client, revoke_client
from gateway.db import make_engine, unit_of_work
from gateway.errors import ProblemError
from gateway.settings import Settings
from schemas.catalog import CatalogError, load_catalog
from schemas.engine import ValidationEngine
from schemas.errors import DocumentError, ValidationEngineError

app = typer.Typer(
    name="tradegw",
    help="trade-gateway: validate, sign, translate and exchange trade documents between customs administrations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)
partners_app = typer.Typer(
    help="The partner directory: partners, their inboxes and trust anchors.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
keys_app = typer.Typer(help="The gateway's signing keys.", no_args_is_help=True)
app.add_typer(partners_app, name="partners")
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The audit log: its checkpoint key and signed checkpoints.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

# Exit statuses of `tradegw validate` (and of usage errors everywhere).
EXIT_VALID, EXIT_INVALID, EXIT_REFUSED = 0, 1, 2


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # One line per bad setting, named as the operator sets it (GATEWAY_…), instead of a traceback.
        problems = "; ".join(
            f"GATEWAY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise _fail(f"bad settings: {problems}") from None


def _validation_engine(settings: Settings) -> ValidationEngine:
    return ValidationEngine(load_catalog(*settings.format_catalogs), settings.xml_limits)


def _write_document(data: bytes, output: Path | None) -> None:
    """The document goes to ``output`` or, as exact bytes, to standard output (messages go to standard error)."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (uvicorn)")] = 1,
    no_delivery: Annotated[
        bool,
        typer.Option(
            "--no-delivery",
            help="do not run the background work (delivery, audit checkpoints, witnessing) in this process "
            "(run `tradegw worker` instead)",
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="serve HTTPS with this PEM certificate (chain) [GATEWAY_TLS_CERT]"),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="the certificate's private key, PEM [GATEWAY_TLS_KEY]")
    ] = None,
    client_ca: Annotated[
        Path | None,
        typer.Option(
            "--client-ca",
            help="require a client certificate issued by a CA of this PEM bundle: a TLS client without one fails "
            "the handshake [GATEWAY_CLIENT_CA]",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and, by default, the delivery worker). In development mode, also migrate the database,
    create development keys and a local admin key."""
    import uvicorn

    from gateway.ops.tls import ServerTls, ServerTlsError

    if no_delivery:
        os.environ["GATEWAY_RUN_WORKER"] = "false"
    settings = _settings()
    try:
        tls = ServerTls.of(tls_cert or settings.tls_cert, tls_key or settings.tls_key, client_ca or settings.client_ca)
        if tls is not None:
            tls.check()
    except ServerTlsError as exc:
        raise _fail(str(exc)) from None
    if settings.env == "development":
        _prepare_development(settings)
    os.environ.setdefault("GATEWAY_ENV", settings.env)
    uvicorn.run(
        "gateway.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app logs each request itself, as JSON with its request id
        # The peer address stays the TCP peer's: client certificate headers are believed only from trusted proxies.
        proxy_headers=False,
        **(tls.uvicorn_options() if tls is not None else {}),
    )


@app.command()
def worker() -> None:
    """Run only the background work, until stopped (SIGINT or SIGTERM): send queued exchanges to partners, sign
    audit checkpoints (when the audit key is in the keys directory), check partners' checkpoints.

    Any number of workers and `tradegw serve` processes may share one database: jobs are claimed with a lease."""
    import signal
    import threading
    from datetime import timedelta

    from gateway.background import Background
    from gateway.directory.keyring import KEYRING_FILE, KeyRing, KeyRingError
    from gateway.ops.logging import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    keys_dir = settings.resolved_keys_dir
    if not (keys_dir / KEYRING_FILE).exists():
        raise _fail(f"no keyring in {keys_dir}: a worker signs every delivery (tradegw keys init, or a keyring)")
    try:
        keyring = KeyRing.load(keys_dir, timedelta(days=settings.key_publication_days))
    except KeyRingError as exc:
        raise _fail(str(exc)) from None
    engine = make_engine(
        settings.resolved_database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    background = Background(settings, engine, keyring)
    background.start()
    typer.echo(f"delivery worker running ({settings.delivery_concurrency} threads); stop with Ctrl-C", err=True)
    try:
        stopped.wait()
    finally:
        background.stop()
        engine.dispose()


def _prepare_development(settings: Settings) -> None:
    from gateway.audit.checkpoints import init_audit_key
    from gateway.directory.keyring import init_development_keyring
    from gateway.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    if init_audit_key(settings.resolved_keys_dir, settings.resolved_audit_origin):
        typer.echo(
            f"DEVELOPMENT MODE: created the audit log's checkpoint key in {settings.resolved_keys_dir}", err=True
        )
    if init_development_keyring(settings.resolved_keys_dir):
        typer.echo(
            f"DEVELOPMENT MODE: created a development CA and signing keys in {settings.resolved_keys_dir} "
            "(never do this in production)",
            err=True,
        )
    key_file = settings.dev_admin_key_file
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine, write=True) as session:
            existing = key_file.read_text().strip() if key_file.exists() else ""
            if existing and authenticate(session, existing) is not None:
                return
            issued = issue_client(session, role=Role.admin.value, name="development admin")
        key_file.write_text(issued.key + "\n")
        key_file.chmod(0o600)
        typer.echo(
            f"DEVELOPMENT MODE: created an admin API key in {key_file} (never do this in production)",
            err=True,
        )
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the database migrations (safe to run from several processes: one migrates, the others wait)."""
    from gateway.migrate import upgrade

    settings = _settings()
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def formats(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """List the format packs: id, version, how it is detected, and its title."""
    settings = _settings()
    try:
        catalog = load_catalog(*settings.format_catalogs)
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        rows = [
            {"id": p.id, "version": p.version, "syntax": p.syntax, "detected": p.detect, "title": p.title}
            for p in catalog.packs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    for pack in catalog.packs:
        detection = "detected" if pack.detect else f"profile of {pack.profile_of}" if pack.profile_of else "by name"
        typer.echo(f"{pack.id:32} {pack.version:22} {pack.syntax:5} {detection:26} {pack.title}")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="the document (XML or JSON); - reads standard input")],
    format_id: Annotated[str | None, typer.Option("--format", help="format id; overrides detection")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
) -> None:
    """Validate a document. Exit 0 valid, 1 invalid, 2 malformed, unsupported or a usage error."""
    settings = _settings()
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    try:
        engine = _validation_engine(settings)
        report = engine.validate(data, format_id)
    except DocumentError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        if as_json:
            typer.echo(json.dumps({"valid": False, "problem": exc.code, "detail": exc.message}))
        raise _fail(f"{exc.code}: {exc.message}{where}") from None
    except (CatalogError, ValidationEngineError) as exc:
        raise _fail(f"validation could not run: {exc}") from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        verdict = "valid" if report.valid else "INVALID"
        typer.echo(f"{file}: {verdict} as {report.format.id} {report.format.version} (sha256 {report.sha256})")
        for f in report.findings:
            where = f"line {f.line}" if f.line else (f.path or "-")
            typer.echo(f"  {f.severity:7} {f.area:10} {where:>10}  {f.rule or ''}  {f.message}")
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_INVALID)


@clients_app.command("add")
def clients_add(
    role: Annotated[str, typer.Option(help="admin, platform, partner or auditor")],
    partner: Annotated[str | None, typer.Option(help="partner connection code (role partner only)")] = None,
    name: Annotated[str | None, typer.Option(help="a label for the client")] = None,
) -> None:
    """Create an API client. The key is printed once, alone on the last line; only its hash is stored."""
    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine, write=True) as session:
            issued = issue_client(session, role=role, name=name or f"{role} client", partner_code=partner)
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    finally:
        engine.dispose()
    client = issued.client
    scope = f" for partner {client.partner_code}" if client.partner_code else ""
    typer.echo(f"created {client.role} client {client.id} ({client.name}){scope}; key shown once:")
    typer.echo(issued.key)


@clients_app.command("list")
def clients_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="include revoked clients")] = False,
) -> None:
    """List API clients (never their keys)."""
    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine) as session:
            clients = ApiClientRepository(session).list(include_revoked=include_revoked)
    finally:
        engine.dispose()
    for c in clients:
        revoked = f" revoked {c.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if c.revoked_at else ""
        typer.echo(f"{c.id}  {c.role:8} {c.partner_code or '-':6} {c.key_id}  {c.name}{revoked}")


@clients_app.command("revoke")
def clients_revoke(
    client_id: Annotated[str, typer.Argument(help="the client's id (from `clients list`)")],
) -> None:
    """Revoke a client's key at once."""
    try:
        parsed = uuid.UUID(client_id)
    except ValueError:
        raise _fail(f"{client_id!r} is not a client id (a UUID)") from None
    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine, write=True) as session:
            client = revoke_client(session, parsed)
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    finally:
        engine.dispose()
    typer.echo(f"revoked {client.id} ({client.name})")


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {what} {path}: {exc}") from None


@partners_app.command("add")
def partners_add(
    code: Annotated[str, typer.Argument(help="connection code, e.g. TH")],
    name: Annotated[str, typer.Option(help="the partner's name")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code")],
    inbox: Annotated[str, typer.Option(help="the partner's inbox URL (https://)")],
    format_ids: Annotated[list[str], typer.Option("--format", help="a format id it accepts (repeat, preferred first)")],
    trust: Annotated[
        list[Path] | None, typer.Option(help="PEM file of CA certificates its signers chain to (repeat)")
    ] = None,
    pin: Annotated[list[Path] | None, typer.Option(help="PEM file of a signer certificate to pin (repeat)")] = None,
    crl: Annotated[Path | None, typer.Option(help="PEM CRL of the (single) --trust CA")] = None,
    document_type: Annotated[list[str] | None, typer.Option(help="a document type it accepts (repeat)")] = None,
    allow_omitted_reference_uri: Annotated[
        bool, typer.Option(help="accept signatures whose single Reference omits URI (compatibility mode)")
    ] = False,
) -> None:
    """Register a partner with its trust anchors."""
    from pydantic import ValidationError

    from gateway.partners.schemas import PartnerCreate, TrustAnchorIn
    from gateway.partners.service import create_partner

    if not trust and not pin:
        raise _fail("a partner needs at least one trust anchor: --trust CA.pem or --pin SIGNER.pem")
    if crl is not None and len(trust or []) != 1:
        raise _fail("--crl goes with exactly one --trust CA file")
    crl_pem = _read_text(crl, "CRL") if crl is not None else None
    anchors = [TrustAnchorIn(kind="ca", certificate_pem=_read_text(p, "CA file"), crl_pem=crl_pem) for p in trust or []]
    anchors += [TrustAnchorIn(kind="pinned", certificate_pem=_read_text(p, "certificate")) for p in pin or []]
    settings = _settings()
    try:
        body = PartnerCreate(
            code=code,
            name=name,
            country=country,
            inbox_url=inbox,
            formats=format_ids,
            document_types=document_type or [],
            allow_omitted_reference_uri=allow_omitted_reference_uri,
            trust=anchors,
        )
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine, write=True) as session:
            partner = create_partner(session, body, load_catalog(*settings.format_catalogs).ids)
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    finally:
        engine.dispose()
    typer.echo(f"added partner {partner.code} ({partner.name}) with {len(anchors)} trust file(s)")


def _fetch_capability(url: str) -> bytes:
    """GET a capability document: one request, no redirects, a size cap and an overall deadline."""
    import time

    import httpx

    from gateway.partners.capability import MAX_CAPABILITY_BYTES

    deadline = time.monotonic() + 10.0
    body = bytearray()
    try:
        with httpx.stream(
            "GET", url, timeout=10.0, follow_redirects=False, headers={"Accept": "application/json"}
        ) as response:
            if response.is_redirect:
                # The document at a redirect target is someone else's until shown otherwise: the operator decides.
                location = response.headers.get("location", "?")
                raise _fail(f"{url} redirects to {location}; redirects are not followed, import from that URL")
            if response.status_code != 200:
                raise _fail(f"{url} answered HTTP {response.status_code}, not the capability document")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_CAPABILITY_BYTES:
                raise _fail(f"{url}: the document is {declared} bytes, over the {MAX_CAPABILITY_BYTES}-byte limit")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_CAPABILITY_BYTES:
                    raise _fail(f"{url}: the document is over the {MAX_CAPABILITY_BYTES}-byte limit")
                # httpx's timeout is per read: a server trickling bytes would otherwise hold the command forever.
                if time.monotonic() > deadline:
                    raise _fail(f"{url}: no complete answer within 10 seconds")
    except httpx.HTTPError as exc:
        raise _fail(f"cannot fetch {url}: {exc}") from None
    return bytes(body)


def _read_capability(source: str) -> bytes:
    from gateway.partners.capability import MAX_CAPABILITY_BYTES

    if source.startswith(("https://", "http://")):
        return _fetch_capability(source)
    try:
        if source == "-":
            return sys.stdin.buffer.read(MAX_CAPABILITY_BYTES + 1)
        with Path(source).open("rb") as file:
            # One byte over the limit is enough for the size check to refuse it; the rest is never read.
            return file.read(MAX_CAPABILITY_BYTES + 1)
    except OSError as exc:
        raise _fail(f"cannot read {source}: {exc.strerror}") from None


@partners_app.command("import")
def partners_import(
    source: Annotated[
        str,
        typer.Argument(
            help="the partner's capability document: an http(s) URL (normally <partner>/v1/directory/self), "
            "a file, or - for standard input"
        ),
    ],
    code: Annotated[str | None, typer.Option(help="the partner code the document must name, e.g. TH")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="do not ask before trusting the certificates (check them out of band first)")
    ] = False,
    repin: Annotated[
        bool,
        typer.Option(
            "--repin",
            help="with --yes: accept a document for a registered partner that its current trust does not vouch for",
        ),
    ] = False,
) -> None:
    """Register a partner, or update one, from its signed capability document (trust on first use).

    Prints the partner and the SHA-256 fingerprint of each certificate, then asks before trusting them: compare the
    fingerprints with the partner out of band. For a registered partner it also says whether a certificate it is
    trusted with signed the document (if none did, answering yes re-establishes trust on first use; without a
    prompt that takes --repin); certificates not pinned yet are pinned (none is retired) and the inbox, formats and
    document types follow the document.
    Exit 0 done, 1 not confirmed (nothing changed), 2 refused or a usage error.
    """

    from gateway.partners.capability import partner_from_capability, shown
    from gateway.partners.importing import continuity, import_capability
    from gateway.partners.service import PARTNER_CODE

    if code is not None and not PARTNER_CODE.match(code):
        raise _fail(f"--code {code!r} is not a partner code (2 to 16 capital letters or digits)")
    settings = _settings()
    try:
        known = load_catalog(*settings.format_catalogs).ids
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    raw = _read_capability(source)
    now = datetime.now(UTC)
    try:
        imported = partner_from_capability(raw, expected_code=code, formats_we_send=known, now=now)
    except ProblemError as exc:
        raise _fail(f"{source}: {exc.detail}") from None
    for line in imported.summary():
        typer.echo(line)
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine) as session:
            # Shown before the question: a re-import no key of the partner vouches for deserves a harder look.
            vouched = continuity(session, imported, now)
        if vouched is not None:
            typer.echo(vouched)
        if not yes:
            try:
                confirmed = typer.confirm(
                    f"Trust these certificates for partner {imported.partner.code}?", default=False
                )
            except typer.Abort:  # end of input: nobody answered
                confirmed = False
            if not confirmed:
                raise _fail("not confirmed; nothing was changed", EXIT_INVALID)
        with unit_of_work(engine, write=True) as session:
            # An interactive yes is the operator's confirmation; a scripted one must say --repin explicitly.
            outcome = import_capability(session, imported, known, now, allow_unvouched=repin or not yes)
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    finally:
        engine.dispose()
    for note in outcome.notes:
        typer.echo(f"note: {note}")
    if outcome.created:
        typer.echo(
            f"registered partner {imported.partner.code} with {len(imported.certificates)} pinned certificate(s)"
        )
    elif outcome.changes:
        typer.echo(f"updated partner {imported.partner.code}:")
    else:
        typer.echo(f"partner {imported.partner.code} is up to date; nothing changed")
    for change in outcome.changes[1:] if outcome.created else outcome.changes:
        typer.echo(f"  {shown(change)}")


@partners_app.command("list")
def partners_list() -> None:
    """List partners: code, country, inbox, formats and active trust anchors."""
    from gateway.partners.repository import PartnerRepository

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine) as session:
            repository = PartnerRepository(session)
            rows = [(p, repository.anchors(p.code, active_only=True)) for p in repository.all()]
    finally:
        engine.dispose()
    for partner, anchors in rows:
        typer.echo(
            f"{partner.code:6} {partner.country}  {partner.inbox_url}  formats={','.join(partner.formats)}  "
            f"trust={len(anchors)} active  {partner.name}"
        )
        for anchor in anchors:
            typer.echo(f"         {anchor.kind:6} {anchor.sha256[:16]}  {anchor.subject}")


def _read_document(file: Path) -> bytes:
    try:
        return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None


@app.command()
def sign(
    file: Annotated[Path, typer.Argument(help="the document (XML or JSON); - reads standard input")],
    key: Annotated[Path | None, typer.Option(help="private key PEM (default: the keyring's current key)")] = None,
    cert: Annotated[Path | None, typer.Option(help="certificate PEM for --key (leaf first, then chain)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of standard output")] = None,
    format_id: Annotated[str | None, typer.Option("--format", help="format id; overrides detection")] = None,
) -> None:
    """Validate, then sign. Exit 0 signed, 1 invalid (nothing signed), 2 refused or a usage error."""
    from datetime import UTC, datetime, timedelta

    from gateway.directory.keyring import KeyRing, KeyRingError
    from gateway.documents.service import InvalidDocument, prepare_signing, sign_prepared
    from signing.keys import load_signing_key

    settings = _settings()
    data = _read_document(file)
    if (key is None) != (cert is None):
        raise _fail("--key and --cert go together")
    try:
        if key is not None and cert is not None:
            signing_key = load_signing_key(key, cert)
        else:
            keyring = KeyRing.load(settings.resolved_keys_dir, timedelta(days=settings.key_publication_days))
            entry = keyring.signing_key(datetime.now(UTC))
            if entry is None:
                raise _fail("no key of the keyring signs at this moment")
            signing_key = entry.key
    except (OSError, ValueError, KeyRingError) as exc:
        raise _fail(f"cannot load the signing key: {exc}") from None
    try:
        engine = _validation_engine(settings)
        signed = sign_prepared(prepare_signing(engine, data, format_id), signing_key)
    except InvalidDocument as exc:
        typer.echo(f"{file}: INVALID, not signed: {exc.detail}", err=True)
        for finding in exc.extensions["report"]["findings"]:
            typer.echo(f"  {finding['severity']:7} line {finding['line']}  {finding['message']}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except DocumentError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    _write_document(signed.body, output)
    if output is not None:
        typer.echo(f"signed {file} as {signed.format_id} with key {signed.key_id[:16]} → {output}", err=True)


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="the signed document; - reads standard input")],
    trust: Annotated[list[Path] | None, typer.Option(help="PEM file of trusted CA certificates (repeat)")] = None,
    pin: Annotated[list[Path] | None, typer.Option(help="PEM file of a pinned signer certificate (repeat)")] = None,
    crl: Annotated[list[Path] | None, typer.Option(help="PEM CRL of a trusted CA (repeat)")] = None,
    at: Annotated[str | None, typer.Option(help="verification time, ISO 8601 with zone (default now)")] = None,
    allow_omitted_reference_uri: Annotated[
        bool, typer.Option(help="compatibility mode: accept a single Reference without URI")
    ] = False,
    format_id: Annotated[str | None, typer.Option("--format", help="format id; overrides detection")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full answer as JSON")] = False,
) -> None:
    """Verify a signature. Exit 0 only when integrity, trust and validity are VALID; 1 INVALID; 2 ERROR or usage."""

    from cryptography import x509

    from gateway.documents.service import verify_document
    from signing.trust import TrustAnchors, load_pem_certificates

    if not trust and not pin:
        raise _fail("name what to trust: --trust CA.pem and/or --pin SIGNER.pem")
    try:
        moment = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        raise _fail(f"--at {at!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _fail("--at needs a time zone, e.g. 2026-11-30T12:00:00Z")
    try:
        anchors = TrustAnchors(
            label="cli",
            ca_certificates=tuple(c for p in trust or [] for c in load_pem_certificates(p.read_bytes())),
            pinned_certificates=tuple(c for p in pin or [] for c in load_pem_certificates(p.read_bytes())),
            crls=tuple(x509.load_pem_x509_crl(p.read_bytes()) for p in crl or []),
        )
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the trust files: {exc}") from None
    data = _read_document(file)
    settings = _settings()
    try:
        engine = _validation_engine(settings)
        outcome = verify_document(engine, lambda: (anchors, allow_omitted_reference_uri), data, format_id, moment)
    except DocumentError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    answer = outcome.result.as_dict()
    if as_json:
        answer["valid"] = outcome.result.ok
        answer["format"] = outcome.format_id
        answer["report"] = outcome.report.model_dump(mode="json") if outcome.report else None
        typer.echo(json.dumps(answer, indent=2))
    else:
        for part in ("integrity", "trust", "validity"):
            check = answer[part]
            typer.echo(f"{part:9} {check['status']:7} {check['reason']}  {check['detail']}".rstrip())
        if answer["signer"]:
            typer.echo(f"signer    {answer['signer']['subject']} (sha256 {answer['signer']['sha256'][:16]}…)")
    statuses = {answer[part]["status"] for part in ("integrity", "trust", "validity")}
    if statuses == {"VALID"}:
        raise typer.Exit(EXIT_VALID)
    raise typer.Exit(EXIT_REFUSED if "ERROR" in statuses else EXIT_INVALID)


@app.command()
def translate(
    file: Annotated[Path, typer.Argument(help="the certificate (XML or JSON); - reads standard input")],
    to: Annotated[str, typer.Option(help="the target format id (see `tradegw formats`)")],
    source: Annotated[str | None, typer.Option("--from", help="the source format id (default: detected)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of standard output")] = None,
    report: Annotated[bool, typer.Option("--report", help="print the loss report (JSON) on standard error")] = False,
) -> None:
    """Translate a certificate into another format. Exit 0 translated, 1 invalid source, 2 refused or usage."""
    from gateway.documents.service import InvalidDocument
    from gateway.documents.translation import loss_entry_dict, translate_document

    settings = _settings()
    data = _read_document(file)
    try:
        engine = _validation_engine(settings)
        outcome = translate_document(engine, data, to, source)
    except InvalidDocument as exc:
        typer.echo(f"{file}: INVALID, not translated: {exc.detail}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except DocumentError as exc:
        raise _fail(f"{exc.code}: {exc.message}") from None
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    _write_document(outcome.data, output)
    dropped = sum(entry.kind == "dropped" for entry in outcome.losses)
    filled = len(outcome.losses) - dropped
    typer.echo(
        f"translated {outcome.source_format} → {outcome.target_format}: {dropped} value(s) dropped, {filled} filled"
        + ("" if report else " (--report lists them)"),
        err=True,
    )
    if report:
        typer.echo(json.dumps([loss_entry_dict(entry) for entry in outcome.losses], indent=2), err=True)


@keys_app.command("init")
def keys_init() -> None:
    """Create a development CA, RSA-3072 and P-256 signing certificates and a keyring (development only)."""
    from gateway.directory.keyring import init_development_keyring

    settings = _settings()
    if settings.env != "development":
        raise _fail("keys init makes development keys; in production install your CA-issued keys in a keyring")
    keys_dir = settings.resolved_keys_dir
    created = init_development_keyring(keys_dir)
    typer.echo(f"{'created' if created else 'kept the existing'} development keyring in {keys_dir}")


@audit_app.command("key")
def audit_key(
    init: Annotated[
        bool, typer.Option("--init", help="create the checkpoint key first if there is none (production setup)")
    ] = False,
) -> None:
    """Print the verifier key of the audit log's checkpoints (C2SP name+keyhash+base64), for auditors and partners."""
    from gateway.audit.checkpoints import CheckpointSigner, init_audit_key

    settings = _settings()
    keys_dir = settings.resolved_keys_dir
    if init and init_audit_key(keys_dir, settings.resolved_audit_origin):
        typer.echo(
            f"created the checkpoint key in {keys_dir} (keep it, and its state file, off the database)", err=True
        )
    signer = CheckpointSigner.load(keys_dir)
    if signer is None:
        raise _fail(f"no checkpoint key in {keys_dir}: tradegw audit key --init creates one")
    typer.echo(signer.verifier_key())


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log now and print it; refused (exit 2) if the log does not extend the last one."""
    from gateway.audit.checkpoints import CheckpointSigner, SignerRefused

    settings = _settings()
    signer = CheckpointSigner.load(settings.resolved_keys_dir)
    if signer is None:
        raise _fail(f"no checkpoint key in {settings.resolved_keys_dir}: tradegw audit key --init creates one")
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(engine, write=True) as session:
            signed = signer.sign(session, datetime.now(UTC))
    except SignerRefused as refused:
        raise _fail(f"refused: {refused}") from None
    finally:
        engine.dispose()
    sys.stdout.write(signed.note)


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[Path, typer.Argument(help="an export bundle (GET /v1/audit/export), or - for standard input")],
    key: Annotated[str, typer.Option(help="the log's verifier key (tradegw audit key on the gateway)")],
    previous: Annotated[Path | None, typer.Option(help="an older checkpoint note this log must extend")] = None,
) -> None:
    """Verify an audit export offline: checkpoint signature, every inclusion proof, the root of a full export,
    each exchange's chain of entries, consistency with --previous. Exit 0 only when all hold; 1 otherwise."""
    from gateway.audit.bundle import verify_bundle

    try:
        raw = sys.stdin.buffer.read() if str(bundle) == "-" else bundle.read_bytes()
        older = previous.read_bytes() if previous is not None else None
    except OSError as exc:
        raise _fail(f"cannot read: {exc}") from None
    verdict = verify_bundle(raw, key, older)
    if verdict.checkpoint is not None:
        typer.echo(
            f"checkpoint {verdict.checkpoint.origin} size {verdict.checkpoint.size}: signature valid; "
            f"{verdict.entries} entries checked"
        )
    for problem in verdict.problems:
        typer.echo(f"FAILED: {problem}", err=True)
    if not verdict.ok:
        raise typer.Exit(EXIT_INVALID)
    typer.echo("all checks hold")


@keys_app.command("list")
def keys_list() -> None:
    """The keyring: each key's id, algorithm, certificate fingerprint, window and status now."""
    from datetime import UTC, datetime, timedelta

    from gateway.directory.keyring import KeyRing, KeyRingError

    settings = _settings()
    try:
        keyring = KeyRing.load(settings.resolved_keys_dir, timedelta(days=settings.key_publication_days))
    except KeyRingError as exc:
        raise _fail(str(exc)) from None
    now = datetime.now(UTC)
    status = {entry.id: label for label, entry in keyring.published(now)}
    for entry in keyring.entries:
        typer.echo(
            f"{entry.id:16} {entry.key.algorithm}  {entry.key.key_id[:16]}"
            f"  signs from {entry.signs_from:%Y-%m-%dT%H:%MZ}"
            f"  until {entry.certificate.not_valid_after_utc:%Y-%m-%d}  {status.get(entry.id, 'not published')}"
        )


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Print the OpenAPI document of this version (YAML), as committed in openapi.yaml."""
    from gateway.app import create_app

    text = yaml.safe_dump(create_app(Settings()).openapi(), sort_keys=False, allow_unicode=True, width=120)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def main() -> None:
    app()
