"""What every adapter is and returns: the adapter protocol, the loss report, the registry and :func:`translate`.

Registry. Each adapter module builds its adapter objects and calls :func:`register` once at import time;
``adapters/__init__.py`` imports every adapter module, so ``ADAPTERS`` is complete as soon as any part of the
package is imported. Adding a format is one line in ``adapters/__init__.py``::

    from adapters import edi3_json as edi3_json  # registers "edi3-coo-json"

with, at the bottom of ``adapters/edi3_json.py``::

    register(Edi3CooJsonAdapter())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from adapters.model import CertificateOfOrigin

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterError",
    "AdapterNotFound",
    "LossEntry",
    "ParseResult",
    "RenderResult",
    "Translation",
    "register",
    "translate",
]


class AdapterError(ValueError):
    """A document the adapter cannot map to the canonical model (e.g. it has no certificate number).

    Documents that are not well-formed, or are refused by the hardened parser, raise the parser's own
    :class:`schemas.DocumentError` instead, with the same codes the validation engine uses.
    """


class AdapterNotFound(AdapterError):
    """No adapter is registered under the format id."""


@dataclass(frozen=True, slots=True)
class LossEntry:
    """One value that did not make it across, or one that had to be invented.

    kind
        ``dropped``: a value of the source that the target (the canonical model when parsing, the format when
        rendering) cannot carry. ``filled``: a value the target requires that the source lacked; ``value`` says
        what was put there.
    field
        Canonical field path (``goods_items[3].invoice_date``, ``flags.exhibition``); for a source value the
        canonical model itself cannot hold, the source path.
    source_path
        XPath (XML) or JSON Pointer (JSON) in the source document, when known.
    """

    kind: Literal["dropped", "filled"]
    field: str
    source_path: str | None
    value: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    certificate: CertificateOfOrigin
    losses: tuple[LossEntry, ...]


@dataclass(frozen=True, slots=True)
class RenderResult:
    data: bytes
    losses: tuple[LossEntry, ...]


@runtime_checkable
class Adapter(Protocol):
    """A partner format. Pure: bytes in, result out; no I/O, no state between calls."""

    @property
    def format_id(self) -> str: ...

    @property
    def media_type(self) -> str: ...

    def parse(self, data: bytes) -> ParseResult: ...

    def render(self, certificate: CertificateOfOrigin) -> RenderResult: ...

    def carries(self) -> frozenset[str]:
        """The canonical field paths (generic form, ``goods_items[].hs_code``) this format holds."""
        ...


_REGISTRY: dict[str, Adapter] = {}
ADAPTERS: Mapping[str, Adapter] = MappingProxyType(_REGISTRY)
"""Every registered adapter by format id; read-only (add with :func:`register`)."""


def register(adapter: Adapter) -> Adapter:
    """Add an adapter under its ``format_id``; a second adapter for the same id is a programming error."""
    existing = _REGISTRY.get(adapter.format_id)
    if existing is not None and existing is not adapter:
        raise RuntimeError(f"an adapter for format {adapter.format_id!r} is already registered")
    _REGISTRY[adapter.format_id] = adapter
    return adapter


def _adapter(format_id: str) -> Adapter:
    try:
        return _REGISTRY[format_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise AdapterNotFound(f"no adapter for format {format_id!r} (adapters: {known})") from None


@dataclass(frozen=True, slots=True)
class Translation:
    data: bytes
    media_type: str
    source_format: str
    target_format: str
    certificate: CertificateOfOrigin
    losses: tuple[LossEntry, ...]
    """The parse losses (source → canonical) followed by the render losses (canonical → target)."""


def translate(data: bytes, source_format: str, target_format: str) -> Translation:
    """Parse ``data`` as ``source_format`` and render it as ``target_format``, with the losses of both steps."""
    source = _adapter(source_format)
    target = _adapter(target_format)
    parsed = source.parse(data)
    rendered = target.render(parsed.certificate)
    return Translation(
        data=rendered.data,
        media_type=target.media_type,
        source_format=source.format_id,
        target_format=target.format_id,
        certificate=parsed.certificate,
        losses=parsed.losses + rendered.losses,
    )
