"""Text callers send that ends up in the database: a NUL (U+0000) is refused at the edge.

PostgreSQL text cannot hold U+0000 while SQLite stores it: left to the database, such a value is a server error on one
backend and accepted on the other; refused here, it is a 422 invalid-request on both (a 400 for a capability document,
whose fields are read as a partner registration). Times are compared in UTC by the database, so a time whose UTC form
leaves the calendar is refused as well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, model_validator

from gateway.errors import BadRequest

__all__ = ["STORABLE_TEXT", "RequestBody", "in_utc", "time_window"]

STORABLE_TEXT = r"^[^\x00]*$"
"""The pattern of a free-text query or path parameter that is compared in SQL."""


def _nul_in(value: Any, where: str) -> str | None:
    """Where in a decoded JSON value a string (or a member name) holds U+0000; None if nowhere."""
    if isinstance(value, str):
        return (where or "the body") if "\x00" in value else None
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _nul_in(key, f"{where}/{key!r}") or _nul_in(item, f"{where}/{key}")
        if found is not None:
            return found
    return None


class RequestBody(BaseModel):
    """Base of the JSON request bodies: no string in them, member names included, holds U+0000."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        where = _nul_in(data, "")
        if where is not None:
            raise ValueError(f"{where} holds U+0000, which the database cannot store")
        return data


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, as the database compares times; ValueError for a time without a zone, or one whose UTC
    form falls outside years 1-9999 (9999-12-31T23:00-05:00 is already in year 10000)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside years 1-9999 in UTC") from None


def time_window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The ``since`` and ``until`` query parameters in UTC; 400 when one is not a time the database can compare."""
    try:
        return (None if since is None else in_utc(since)), (None if until is None else in_utc(until))
    except ValueError as exc:
        raise BadRequest(f"since and until carry a time zone, e.g. 2026-11-30T12:00:00Z: {exc}") from None
