"""Wire protocol v1 (DESIGN §4): the headers of a delivery and the rules for reading a partner's answer."""

from __future__ import annotations

import base64
import binascii
import email.utils
import random
from datetime import UTC, datetime, timedelta
from typing import Final

from signing.httpsig import sign_request
from signing.keys import SigningKey

__all__ = [
    "MAX_CHECKPOINT_HEADER",
    "PROTOCOL",
    "Outcome",
    "backoff",
    "checkpoint_header",
    "classify_status",
    "delivery_headers",
    "http_date",
    "parse_http_date",
    "read_checkpoint_header",
    "retry_after",
]

PROTOCOL: Final = "1"
MAX_RETRY_AFTER_SECONDS: Final = 86_400
# A checkpoint note is an origin, a size, a root and a few signature lines: a few hundred bytes. The cap keeps a
# partner's header from costing more than a glance.
MAX_CHECKPOINT_HEADER: Final = 8192


def checkpoint_header(note: str) -> str:
    """The ``Audit-Checkpoint`` value: the signed note as an RFC 8941 byte sequence (a note has line breaks, a
    header value cannot)."""
    return ":" + base64.b64encode(note.encode("utf-8")).decode("ascii") + ":"


def read_checkpoint_header(value: str) -> bytes:
    """The note bytes of an ``Audit-Checkpoint`` value; ValueError when it is not one byte sequence."""
    value = value.strip()
    if len(value) > MAX_CHECKPOINT_HEADER:
        raise ValueError(f"Audit-Checkpoint is longer than {MAX_CHECKPOINT_HEADER} characters")
    if len(value) < 2 or value[0] != ":" or value[-1] != ":":
        raise ValueError("Audit-Checkpoint must be an RFC 8941 byte sequence (:base64:)")
    try:
        return base64.b64decode(value[1:-1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Audit-Checkpoint is not valid base64") from None


def http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def delivery_headers(
    *,
    inbox_url: str,
    body: bytes,
    media_type: str,
    message_id: str,
    sender: str,
    receiver: str,
    document_type: str,
    key: SigningKey,
    now: datetime,
    checkpoint: str | None = None,
) -> dict[str, str]:
    """Every header of a delivery, signed (RFC 9421) with the gateway's current key; ``checkpoint`` is our latest
    signed audit checkpoint note, when there is one."""
    headers = {
        "Content-Type": media_type,
        "Message-ID": message_id,
        "Date": http_date(now),
        "From": sender,
        "To": receiver,
        "Document-Type": document_type,
        "Exchange-Protocol": PROTOCOL,
    }
    if checkpoint is not None:
        headers["Audit-Checkpoint"] = checkpoint_header(checkpoint)
    headers |= sign_request(method="POST", target_uri=inbox_url, headers=headers, body=body, key=key, now=now)
    return headers


class Outcome:
    """How one attempt ended, from the sender's side."""

    TRANSIENT: Final = "transient"  # try again later (timeout, connection error, 408, 429, 5xx, bad receipt)
    FINAL: Final = "final"  # a non-retryable refusal (other 4xx): the exchange fails; an operator may requeue


def classify_status(status: int) -> str:
    if status in (408, 425, 429) or status >= 500:
        return Outcome.TRANSIENT
    return Outcome.FINAL


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Capped: a partner's hint can delay a delivery, never overflow the clock (the backoff cap applies too).
        return timedelta(seconds=min(int(value[:9]), MAX_RETRY_AFTER_SECONDS))
    moment = parse_http_date(value)
    if moment is None:
        return None
    return max(moment - now, timedelta(0))


def backoff(
    attempt: int, base_seconds: float, cap_seconds: float, hint: timedelta | None, rng: random.Random
) -> timedelta:
    """Exponential backoff with jitter (half to all of the step); at least what the partner asked, at most the cap."""
    step = min(cap_seconds, base_seconds * 2 ** max(attempt - 1, 0))
    delay = step * rng.uniform(0.5, 1.0)
    if hint is not None:
        delay = max(delay, hint.total_seconds())
    return timedelta(seconds=min(delay, cap_seconds))
