"""The catalog of format packs: what each format is, how it is recognised, and which files validate it.

A pack is data (a TOML table plus schema files), so a validate-only format needs no Python. The built-in
catalog is ``resources/catalog.toml``; operators may add catalog files of their own (``GATEWAY_FORMAT_CATALOGS``).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

__all__ = [
    "BUILTIN_CATALOG",
    "PRECEDENCE",
    "CatalogError",
    "FormatCatalog",
    "FormatPack",
    "MatchRule",
    "SchematronSpec",
    "load_catalog",
]

BUILTIN_CATALOG = Path(__file__).parent / "resources" / "catalog.toml"

# DESIGN.md §5: a customisation-keyed entry beats a document-specific one, which beats a generic one.
PRECEDENCE: dict[str, int] = {"customization": 30, "document": 20, "generic": 10}

Syntax = Literal["xml", "json"]
SchematronEngine = Literal["iso-xslt1", "svrl-xslt2"]


class CatalogError(ValueError):
    """A catalog file that cannot be used; raised at start-up, never per request."""


@dataclass(frozen=True, slots=True)
class MatchRule:
    """How a document is recognised as this format.

    XML: ``namespace`` and ``root`` of the document element (``root = "*"`` with ``{root}`` in the namespace
    matches a family such as every UBL maindoc), optionally a ``customization`` child of the root whose text
    starts with ``customization_prefix``. JSON: ``json_pointer`` names a member whose presence marks the format.
    """

    namespace: str | None = None
    root: str | None = None
    customization_element: str | None = None
    customization_prefix: str | None = None
    json_pointer: str | None = None


@dataclass(frozen=True, slots=True)
class SchematronSpec:
    file: str
    engine: SchematronEngine
    # Top-level variables of the Schematron that the engine supplies at run time, name -> source:
    # "pycountry:countries", "pycountry:currencies", "file:<path with one code per line>", "clock:latest-date".
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FormatPack:
    """One format: identity, detection rules and validation artefacts (paths relative to the catalog)."""

    id: str
    title: str
    version: str
    syntax: Syntax
    precedence: int
    detect: bool
    base_dir: Path
    resources: tuple[str, ...]
    match: tuple[MatchRule, ...]
    xsd: str | None = None
    json_schema: str | None = None
    schematron: tuple[SchematronSpec, ...] = ()
    profile_of: str | None = None
    # Where a signature goes in this format: "ubl-extension", "root-last-child" (XML) or "jws-detached" (JSON);
    # None: the gateway does not sign or verify documents of this format.
    signature: str | None = None
    description: str = ""
    document_types: tuple[str, ...] = field(default=())

    def xsd_path(self, root: str) -> Path | None:
        """The XSD for a document whose element is ``root`` (families name one XSD per root)."""
        if self.xsd is None:
            return None
        return self.base_dir / self.xsd.replace("{root}", root)

    @cached_property
    def digest(self) -> str:
        """SHA-256 over every file of the pack (path and content), so a report names the exact rules used."""
        outer = hashlib.sha256()
        files: list[Path] = []
        for resource in self.resources:
            path = self.base_dir / resource
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
        for path in files:
            outer.update(path.relative_to(self.base_dir).as_posix().encode() + b"\0")
            outer.update(hashlib.sha256(path.read_bytes()).digest())
        return outer.hexdigest()


@dataclass(frozen=True)
class FormatCatalog:
    packs: tuple[FormatPack, ...]

    def get(self, pack_id: str) -> FormatPack | None:
        return next((p for p in self.packs if p.id == pack_id), None)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.packs]


def _match_rule(raw: dict[str, object], where: str) -> MatchRule:
    allowed = {"namespace", "root", "customization_element", "customization_prefix", "json_pointer"}
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown match keys {sorted(unknown)}")
    values = {k: str(v) for k, v in raw.items()}
    rule = MatchRule(**values)
    if rule.json_pointer is None and (rule.namespace is None or rule.root is None):
        raise CatalogError(f"{where}: an XML match needs namespace and root")
    if (rule.customization_element is None) != (rule.customization_prefix is None):
        raise CatalogError(f"{where}: customization_element and customization_prefix go together")
    return rule


def _pack(raw: dict[str, object], base_dir: Path, source: Path) -> FormatPack:
    where = f"{source}: pack {raw.get('id', '?')!r}"
    try:
        precedence_name = str(raw.get("precedence", "document"))
        if precedence_name not in PRECEDENCE:
            raise CatalogError(f"{where}: precedence must be one of {sorted(PRECEDENCE)}")
        syntax = str(raw["syntax"])
        if syntax not in ("xml", "json"):
            raise CatalogError(f"{where}: syntax must be xml or json")
        matches = raw.get("match", [])
        schematrons = raw.get("schematron", [])
        assert isinstance(matches, list)
        assert isinstance(schematrons, list)
        pack = FormatPack(
            id=str(raw["id"]),
            title=str(raw["title"]),
            version=str(raw["version"]),
            syntax="xml" if syntax == "xml" else "json",
            precedence=PRECEDENCE[precedence_name],
            detect=bool(raw.get("detect", True)),
            base_dir=base_dir,
            resources=tuple(str(r) for r in raw.get("resources", [])),  # type: ignore[attr-defined]
            match=tuple(_match_rule(m, where) for m in matches),
            xsd=str(raw["xsd"]) if "xsd" in raw else None,
            json_schema=str(raw["json_schema"]) if "json_schema" in raw else None,
            schematron=tuple(
                SchematronSpec(
                    file=str(s["file"]),
                    engine=s["engine"],
                    parameters=tuple((str(k), str(v)) for k, v in s.get("parameters", {}).items()),
                )
                for s in schematrons
            ),
            profile_of=str(raw["profile_of"]) if "profile_of" in raw else None,
            signature=str(raw["signature"]) if "signature" in raw else None,
            description=str(raw.get("description", "")),
            document_types=tuple(str(t) for t in raw.get("document_types", [])),  # type: ignore[attr-defined]
        )
    except KeyError as exc:
        raise CatalogError(f"{where}: missing key {exc}") from None
    allowed = {"xml": ("ubl-extension", "root-last-child"), "json": ("jws-detached",)}[pack.syntax]
    if pack.signature is not None and pack.signature not in allowed:
        raise CatalogError(f"{where}: signature for {pack.syntax} must be one of {list(allowed)}")
    for spec in pack.schematron:
        if spec.engine not in ("iso-xslt1", "svrl-xslt2"):
            raise CatalogError(f"{where}: schematron engine must be iso-xslt1 or svrl-xslt2")
    if pack.detect and not pack.match:
        raise CatalogError(f"{where}: a detectable pack needs at least one match rule")
    if pack.syntax == "xml" and pack.xsd is None and not pack.schematron:
        raise CatalogError(f"{where}: an XML pack needs an xsd or a schematron")
    if pack.syntax == "json" and pack.json_schema is None:
        raise CatalogError(f"{where}: a JSON pack needs a json_schema")
    for rel in [pack.json_schema, *(s.file for s in pack.schematron), *pack.resources]:
        if rel is not None and not (base_dir / rel).exists():
            raise CatalogError(f"{where}: file {rel} not found under {base_dir}")
    return pack


def load_catalog(*extra: Path) -> FormatCatalog:
    """Load the built-in catalog, then each extra catalog file in order; a duplicate id is an error."""
    packs: list[FormatPack] = []
    for source in (BUILTIN_CATALOG, *extra):
        try:
            document = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"{source}: {exc}") from None
        for raw in document.get("pack", []):
            pack = _pack(raw, source.parent, source)
            if any(p.id == pack.id for p in packs):
                raise CatalogError(f"{source}: duplicate format id {pack.id!r}")
            packs.append(pack)
    for pack in packs:
        if pack.profile_of is not None and not any(p.id == pack.profile_of for p in packs):
            raise CatalogError(f"pack {pack.id!r}: profile_of names unknown pack {pack.profile_of!r}")
    return FormatCatalog(tuple(packs))
