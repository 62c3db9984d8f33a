"""Idempotency-Key for submissions (DESIGN §8), scoped per client and fingerprinted by the request.

1. ``reserve`` runs in its own short transaction before the work: a new key is reserved (state ``in_flight`` with a
   lock expiry); a completed key returns its stored answer to replay; a key in flight is 409 until its lock expires,
   after which a new request takes it over (its holder crashed); another body under the same key is 422.
2. The work's own transaction calls ``complete`` to store the answer, so the answer exists exactly when the work
   committed. A request that fails unexpectedly calls ``release`` so the client can try again at once.
Keys are kept for the retention period and purged by the worker.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from gateway.errors import ProblemError, Unprocessable
from gateway.exchanges.models import IdempotencyKey

__all__ = [
    "IdempotencyConflict",
    "IdempotencyKeyReused",
    "Replay",
    "Reservation",
    "complete",
    "fingerprint",
    "purge",
    "release",
    "reserve",
]

MAX_KEY_LENGTH = 255


class IdempotencyConflict(ProblemError):
    status, slug, title = 409, "idempotency-key-in-flight", "A request with this Idempotency-Key is in progress"


class IdempotencyKeyReused(Unprocessable):
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used for another request"


@dataclass(frozen=True)
class Reservation:
    """This request holds the key; ``token`` (its lock expiry) proves it still does when the work completes."""

    token: datetime


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes
    media_type: str


def fingerprint(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def reserve(
    session: Session, client_id: uuid.UUID, key: str, print_: str, now: datetime, lock: timedelta, retention: timedelta
) -> Replay | Reservation:
    """Reserve ``key`` for this request, or return the answer to replay; raises 409/422 as described above."""
    row = session.get(IdempotencyKey, (client_id, key))
    if row is None:
        session.add(
            IdempotencyKey(
                client_id=client_id,
                key=key,
                fingerprint=print_,
                state="in_flight",
                locked_until=now + lock,
                created_at=now,
                expires_at=now + retention,
            )
        )
        try:
            session.flush()
        except IntegrityError:
            # Another request inserted the same key between our read and our insert.
            raise IdempotencyConflict(f"a request with Idempotency-Key {key!r} is in progress") from None
        return Reservation(now + lock)
    if row.fingerprint != print_:
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request; use a new key")
    if row.state == "completed":
        assert row.response_status is not None
        assert row.response_body is not None
        return Replay(row.response_status, row.response_body, row.response_type or "application/json")
    if row.locked_until > now:
        raise IdempotencyConflict(f"a request with Idempotency-Key {key!r} is in progress; retry later")
    # The holder's lock expired (it crashed or was killed): take the key over, compare-and-set on the old expiry.
    taken = session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.client_id) == client_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.state) == "in_flight",
            col(IdempotencyKey.locked_until) == row.locked_until,
        )
        .values(locked_until=now + lock)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyConflict(f"a request with Idempotency-Key {key!r} is in progress; retry later")
    return Reservation(now + lock)


def complete(
    session: Session,
    client_id: uuid.UUID,
    key: str,
    reservation: Reservation,
    status: int,
    body: bytes,
    media_type: str,
    exchange_id: uuid.UUID | None,
) -> None:
    """Store the answer, in the work's own transaction; raises 409 (rolling the work back) when the key was taken
    over meanwhile, so two requests can never both complete one key."""
    done = session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.client_id) == client_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.state) == "in_flight",
            col(IdempotencyKey.locked_until) == reservation.token,
        )
        .values(
            state="completed",
            response_status=status,
            response_body=body,
            response_type=media_type,
            exchange_id=exchange_id,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyConflict(f"Idempotency-Key {key!r} was taken over by another request; this one is void")


def release(session: Session, client_id: uuid.UUID, key: str, reservation: Reservation) -> None:
    session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.client_id) == client_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.state) == "in_flight",
            col(IdempotencyKey.locked_until) == reservation.token,
        )
    )


def purge(session: Session, now: datetime) -> int:
    result = session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) < now))
    return int(result.rowcount)  # type: ignore[attr-defined]
