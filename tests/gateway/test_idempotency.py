"""Idempotency-Key rules (DESIGN §8) on both databases: reserve, replay, conflict, takeover, compare-and-set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from gateway.db import make_engine, unit_of_work
from gateway.exchanges import idempotency
from gateway.exchanges.idempotency import IdempotencyConflict, IdempotencyKeyReused, Replay, Reservation

LOCK = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLIENT = uuid.uuid4()


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _reserve(db: Engine, key: str, body: bytes, now: datetime = NOW) -> Replay | Reservation:
    with unit_of_work(db, write=True) as session:
        return idempotency.reserve(session, CLIENT, key, idempotency.fingerprint(body), now, LOCK, RETENTION)


def test_a_completed_key_replays_its_answer(db: Engine) -> None:
    held = _reserve(db, "k", b"body")
    assert isinstance(held, Reservation)
    with unit_of_work(db, write=True) as session:
        idempotency.complete(session, CLIENT, "k", held, 202, b'{"id": 1}', "application/json", None)
    assert _reserve(db, "k", b"body") == Replay(202, b'{"id": 1}', "application/json")


def test_a_key_in_flight_is_409_until_its_lock_expires_then_taken_over(db: Engine) -> None:
    first = _reserve(db, "k", b"body")
    assert isinstance(first, Reservation)
    with pytest.raises(IdempotencyConflict):
        _reserve(db, "k", b"body", NOW + timedelta(seconds=30))
    second = _reserve(db, "k", b"body", NOW + timedelta(seconds=61))
    assert isinstance(second, Reservation)
    # The first holder was only slow: its completion is refused, so one key never completes twice.
    with pytest.raises(IdempotencyConflict), unit_of_work(db, write=True) as session:
        idempotency.complete(session, CLIENT, "k", first, 202, b"first", "application/json", None)
    with unit_of_work(db, write=True) as session:
        idempotency.complete(session, CLIENT, "k", second, 202, b"second", "application/json", None)
    assert _reserve(db, "k", b"body") == Replay(202, b"second", "application/json")


def test_another_body_under_the_same_key_is_refused(db: Engine) -> None:
    _reserve(db, "k", b"body")
    with pytest.raises(IdempotencyKeyReused):
        _reserve(db, "k", b"another body")


def test_keys_are_per_client_and_released_keys_can_be_used_again(db: Engine) -> None:
    held = _reserve(db, "k", b"body")
    assert isinstance(held, Reservation)
    with unit_of_work(db, write=True) as session:
        assert isinstance(
            idempotency.reserve(session, uuid.uuid4(), "k", idempotency.fingerprint(b"x"), NOW, LOCK, RETENTION),
            Reservation,
        )
        idempotency.release(session, CLIENT, "k", held)
    assert isinstance(_reserve(db, "k", b"other body now"), Reservation)


def test_expired_keys_are_purged(db: Engine) -> None:
    _reserve(db, "old", b"body")
    with unit_of_work(db, write=True) as session:
        assert idempotency.purge(session, NOW + RETENTION + timedelta(seconds=1)) == 1
    assert isinstance(_reserve(db, "old", b"a new body"), Reservation)


def test_fingerprints_separate_their_parts() -> None:
    assert idempotency.fingerprint(b"ab", b"c") != idempotency.fingerprint(b"a", b"bc")
