"""Signed checkpoints of the audit log (C2SP tlog-checkpoint, Ed25519), and the signer's memory outside the database.

The signing key and the signer's state live in the keys directory, not in the database: ``audit-log.key`` (the
C2SP signer key string) and ``audit-log.state`` (the last signed size, root and note). Before signing, the signer
proves from the stored tree that the log it is asked to sign is a consistent extension of what it signed last. A
restored old backup (a shorter log), rewritten history (another root for the same prefix) or a fork (the same size,
another root) is refused — so whoever controls the database still cannot obtain a signature over a changed past.
"""

from __future__ import annotations

import base64
import fcntl
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.audit.merkle import verify_consistency
from gateway.audit.models import AuditCheckpoint, AuditHead
from gateway.audit.tree import StoredTree
from gateway.db import unit_of_work, utcnow
from signing.checkpoint import Checkpoint, NoteSigner

__all__ = [
    "KEY_FILE",
    "STATE_FILE",
    "CheckpointScheduler",
    "CheckpointSigner",
    "PublishedCheckpoint",
    "SignerRefused",
    "init_audit_key",
    "latest",
]

log = structlog.get_logger("gateway.audit")

KEY_FILE = "audit-log.key"
STATE_FILE = "audit-log.state"


class SignerRefused(RuntimeError):
    """The log in the database is not a consistent extension of the last signed checkpoint."""


def init_audit_key(keys_dir: Path, origin: str) -> bool:
    """Write a new Ed25519 checkpoint key for ``origin`` (mode 0600); False when one exists already."""
    path = keys_dir / KEY_FILE
    if path.exists():
        return False
    keys_dir.mkdir(parents=True, exist_ok=True)
    signer = NoteSigner(origin, Ed25519PrivateKey.generate())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(signer.signer_key() + "\n")
    return True


@dataclass(frozen=True)
class Signed:
    size: int
    root: bytes
    note: str


class CheckpointSigner:
    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self.signer = NoteSigner.from_signer_key((keys_dir / KEY_FILE).read_text(encoding="ascii").strip())
        self.state_path = keys_dir / STATE_FILE

    @classmethod
    def load(cls, keys_dir: Path) -> CheckpointSigner | None:
        return cls(keys_dir) if (keys_dir / KEY_FILE).exists() else None

    @property
    def origin(self) -> str:
        return self.signer.name

    def verifier_key(self) -> str:
        return self.signer.verifier_key()

    def last(self) -> Signed | None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Signed(int(state["size"]), base64.b64decode(state["root"]), str(state["note"]))

    def _remember(self, signed: Signed) -> None:
        # Written to a temporary file and renamed: a crash leaves the old state or the new one, never half of one.
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"size": signed.size, "root": base64.b64encode(signed.root).decode(), "note": signed.note}),
            encoding="utf-8",
        )
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.state_path)

    def sign(self, session: Session, now: datetime) -> Signed:
        """Sign the committed log as it stands, if it extends the last signed checkpoint; record the checkpoint."""
        lock_path = self.keys_dir / (STATE_FILE + ".lock")
        with open(lock_path, "a") as lock:
            # One signer at a time across processes sharing the keys directory.
            fcntl.flock(lock, fcntl.LOCK_EX)
            size = session.execute(select(col(AuditHead.size)).where(col(AuditHead.id) == 1)).scalar_one()
            tree = StoredTree(session, size)
            root = tree.root()
            last = self.last()
            if last is not None:
                self._check_extends(last, size, root, tree)
                if last.size == size:
                    return last
            note = self.signer.sign(Checkpoint(self.origin, size, root).body()).decode("utf-8")
            signed = Signed(size, root, note)
            self._remember(signed)
        if session.get(AuditCheckpoint, size) is None:
            session.add(AuditCheckpoint(size=size, root=root, note=note, created_at=now))
        return signed

    @staticmethod
    def _check_extends(last: Signed, size: int, root: bytes, tree: StoredTree) -> None:
        if size < last.size:
            raise SignerRefused(
                f"the log has {size} entries but {last.size} were signed: an older backup restored, or entries deleted"
            )
        if size == last.size:
            if root != last.root:
                raise SignerRefused(f"the log of {size} entries has another root than the one signed: history changed")
            return
        if last.size > 0:
            proof = tree.consistency(last.size)
            if not verify_consistency(last.size, size, last.root, root, proof):
                raise SignerRefused(
                    f"the log of {size} entries does not extend the signed log of {last.size}: history changed"
                )


def latest(session: Session) -> AuditCheckpoint | None:
    found: AuditCheckpoint | None = session.execute(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.size).desc()).limit(1)
    ).scalar()
    return found


class PublishedCheckpoint:
    """The latest signed checkpoint note, for the ``Audit-Checkpoint`` header of every delivery and receipt.

    Read from the database (whichever process signed it) at most every two seconds: checkpoints are a minute apart
    by default, and a header a second old is as good a witness statement as a fresh one."""

    def __init__(self, db: Engine, checkpoint_seconds: float) -> None:
        self.db = db
        # At most half a checkpoint interval old, and never more than two seconds.
        self.ttl = min(2.0, checkpoint_seconds / 2)
        self._lock = threading.Lock()
        self._note: str | None = None
        self._read_at = -math.inf

    def note(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return self._note
        with unit_of_work(self.db) as session:
            found = latest(session)
            note = found.note if found is not None else None
        with self._lock:
            self._note, self._read_at = note, time.monotonic()
        return note


class CheckpointScheduler:
    """Signs a checkpoint every ``seconds`` or after ``entries`` new entries, whichever comes first (a thread)."""

    def __init__(self, signer: CheckpointSigner, db: Engine, seconds: float, entries: int) -> None:
        self.signer = signer
        self.db = db
        self.seconds = seconds
        self.entries = entries
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def due(self, size: int, last: Signed | None, since: float) -> bool:
        if last is None:
            return True
        return size != last.size and (size - last.size >= self.entries or since >= self.seconds)

    def _loop(self) -> None:
        signed_at = time.monotonic() - self.seconds
        while not self._stop.wait(min(1.0, self.seconds)):
            try:
                with unit_of_work(self.db) as session:
                    size = session.execute(select(col(AuditHead.size)).where(col(AuditHead.id) == 1)).scalar_one()
                if not self.due(size, self.signer.last(), time.monotonic() - signed_at):
                    continue
                with unit_of_work(self.db, write=True) as session:
                    self.signer.sign(session, utcnow())
                signed_at = time.monotonic()
            except SignerRefused as refused:
                # Loud, and never "fixed" here: an operator must find out why the log no longer extends the last
                # signed checkpoint (restored backup, tampering) before anything is signed again.
                log.error("audit checkpoint refused", reason=str(refused))
                self._stop.wait(60)
            except Exception:
                log.exception("audit checkpoint failed")
