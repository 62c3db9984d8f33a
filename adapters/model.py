"""The canonical certificate of origin: one typed model that every partner format is translated through.

The model holds the union of what Form RCEP, ATIGA Form D, OASIS UBL CertificateOfOrigin and the UN/CEFACT CoO
vocabulary carry. Values are typed (dates, decimals, ISO and UN/ECE codes) so that an adapter cannot pass a string
through unchecked; the business rules that relate several fields (criteria per agreement, exporter and importer in
different countries, issue date not in the future) are *not* enforced here, because a parsed certificate may break
them and must still be representable: the format's validator reports those.

Field paths. Loss reports and :meth:`adapters.base.Adapter.carries` name fields by path: attribute names joined
by dots, list items by index (``goods_items[3].invoice_date``) or, generically, by ``[]``
(``goods_items[].invoice_date``). :func:`field_paths` lists every leaf path of the model, :func:`present_values`
the leaves a certificate actually fills, and :func:`generic_path` turns one into the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib.resources import files
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "Address",
    "Amount",
    "Attachment",
    "CertificateOfOrigin",
    "CertificateStatus",
    "GoodsItem",
    "Location",
    "Measure",
    "Packages",
    "Party",
    "SpecialFlags",
    "Transport",
    "country_codes",
    "currency_codes",
    "field_paths",
    "generic_path",
    "present_values",
    "rec20_units",
    "value_check",
]


# ------------------------------------------------------------------------------------------- code lists
@cache
def country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def rec20_units() -> frozenset[str]:
    """UN/ECE Rec 20 (+ Rec 21 X..) unit codes: the same list the CoO Schematron checks, so the two never disagree."""
    text = files("schemas").joinpath("resources/coo/rec20-units.txt").read_text(encoding="utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


def _country(value: str) -> str:
    if value not in country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def _currency(value: str) -> str:
    if value not in currency_codes():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _unit(value: str) -> str:
    if value not in rec20_units():
        raise ValueError(f"{value!r} is not a UN/ECE Recommendation 20 unit code")
    return value


# Every partner format is XML or JSON, and XML 1.0 cannot carry C0 controls (other than tab and line feed),
# lone surrogates or U+FFFE/U+FFFF; a carriage return does not survive XML end-of-line normalisation. Refusing them
# at the model keeps every canonical certificate renderable into every format.
_NOT_XML_SAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    bad = _NOT_XML_SAFE.search(value)
    if bad:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot be carried by XML or by this model")
    if not value.strip():
        raise ValueError("must contain more than white space")
    return value


def _token(value: str) -> str:
    _text(value)
    if value != value.strip() or any(ch in value for ch in "\t\n"):
        raise ValueError("identifiers and codes are one line without leading or trailing white space")
    return value


def _pattern(regex: str, what: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


# Each constrained type ends in an AfterValidator holding its whole check, so an adapter can test one value
# without building a model (``value_check``); patterns stay in StringConstraints for the JSON Schema.
Text = Annotated[str, AfterValidator(_text)]
"""Free text: not blank, XML-safe characters; may span lines."""
Token = Annotated[str, AfterValidator(_token)]
"""An identifier or a code: one line, no surrounding white space (UBL identifiers are normalised strings)."""
CertificateNumber = Annotated[Token, StringConstraints(max_length=128)]
"""A certificate's number: a token of at most 128 characters, as the gateway's registry stores and looks them up."""
CountryCode = Annotated[str, AfterValidator(_country)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
UnitCode = Annotated[str, AfterValidator(_unit)]
_HS = r"^[0-9]{6,10}$"
HsCode = Annotated[str, StringConstraints(pattern=_HS), _pattern(_HS, "an HS code of 6 to 10 digits")]
"""Harmonized System code written as digits only: 6 (subheading) to 10 (national tariff line)."""
_REC21 = r"^[0-9A-Z]{2}$"
PackageKind = Annotated[str, StringConstraints(pattern=_REC21), _pattern(_REC21, "a Rec 21 package type code")]
"""UN/ECE Recommendation 21 package type code (two characters, e.g. BG, CT, 1A)."""
_LOCODE = r"^[A-Z]{2}[A-Z2-9]{3}$"
LoCode = Annotated[str, StringConstraints(pattern=_LOCODE), _pattern(_LOCODE, "a UN/LOCODE")]
"""UN/LOCODE without the space: country code then three characters (e.g. THLCH)."""
_MIME = r"^[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*$"
MimeType = Annotated[str, StringConstraints(pattern=_MIME), _pattern(_MIME, "a MIME type")]


def value_check(kind: Any) -> Callable[[str], str]:
    """The check of a constrained string type above (raises ValueError), for validating one value quickly."""
    validators = [m for m in get_args(kind)[1:] if isinstance(m, AfterValidator)]
    return validators[-1].func  # type: ignore[return-value]


NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


def _none_if_empty(value: BaseModel | None) -> BaseModel | None:
    """An optional part with nothing in it is absent: formats cannot tell an empty address from no address."""
    if value is not None and next(present_values(value), None) is None:
        return None
    return value


class _Model(BaseModel):
    # Attachments are binary: in JSON (API responses, dumps) they travel as base64, never as raw bytes.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


# ------------------------------------------------------------------------------------------- value types
class CertificateStatus(StrEnum):
    ISSUED = "issued"
    REPLACEMENT = "replacement"
    WITHDRAWN = "withdrawn"


class Amount(_Model):
    value: NonNegative
    currency: CurrencyCode


class Measure(_Model):
    value: NonNegative
    unit: UnitCode


class Address(_Model):
    lines: tuple[Text, ...] = ()
    city: Text | None = None
    postal_code: Token | None = None
    country: CountryCode | None = None


class Party(_Model):
    name: Text
    id: Token | None = None
    address: Annotated[Address | None, AfterValidator(_none_if_empty)] = None


class Location(_Model):
    code: LoCode | None = None
    name: Text | None = None


class Transport(_Model):
    departure_date: date | None = None
    means: Text | None = None
    """Means of transport as stated on the certificate (Form RCEP box 6, Form D box 3), e.g. "By sea"."""
    vessel: Text | None = None
    """Vessel name, or flight / vehicle identification."""
    loading_port: Annotated[Location | None, AfterValidator(_none_if_empty)] = None
    discharge_port: Annotated[Location | None, AfterValidator(_none_if_empty)] = None


class Packages(_Model):
    count: int | None = Field(default=None, ge=0)
    kind: PackageKind | None = None


class GoodsItem(_Model):
    sequence: int = Field(ge=1)
    """Item number on the certificate; unique within a certificate."""
    marks: Text | None = None
    packages: Annotated[Packages | None, AfterValidator(_none_if_empty)] = None
    description: Text
    hs_code: HsCode | None = None
    origin_criterion: Token | None = None
    """As written in the criterion box of the agreement's form (e.g. "CTC DMI", "CTSH + 35%")."""
    origin_country: CountryCode | None = None
    quantity: Measure | None = None
    gross_weight: Measure | None = None
    fob_value: Amount | None = None
    invoice_number: Token | None = None
    invoice_date: date | None = None
    manufacturer: Party | None = None


class SpecialFlags(_Model):
    back_to_back: bool = False
    third_party_invoicing: bool = False
    issued_retroactively: bool = False
    exhibition: bool = False


class Attachment(_Model):
    filename: Token | None = None
    mime_type: MimeType
    content: bytes


# ------------------------------------------------------------------------------------------- the certificate
class CertificateOfOrigin(_Model):
    number: CertificateNumber
    # Nine digits: what a status notice carries, and within the registry's INTEGER column on every database.
    version: int = Field(default=1, ge=1, le=999_999_999)
    status: CertificateStatus = CertificateStatus.ISSUED
    replaces: CertificateNumber | None = None
    """Number of the certificate that this one replaces (status ``replacement``)."""
    issue_date: date
    issue_place: Text | None = None
    issuing_authority: Party | None = None
    issuing_country: CountryCode
    agreement: Token | None = None
    """Trade agreement the preference is claimed under (RCEP, ATIGA, ChAFTA …); None: non-preferential."""
    preferential: bool = False
    """Always ``agreement is not None``; derived when omitted. Kept as a field because partner formats state it."""
    exporter: Party
    producer: Party | None = None
    importer: Party | None = None
    consignee: Party | None = None
    transport: Annotated[Transport | None, AfterValidator(_none_if_empty)] = None
    goods_items: tuple[GoodsItem, ...] = ()
    remarks: tuple[Text, ...] = ()
    exporter_declaration: Text | None = None
    flags: SpecialFlags = SpecialFlags()
    attachments: tuple[Attachment, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _derive_preferential(cls, data: Any) -> Any:
        # A preference is always granted under a named agreement (or scheme), so `preferential` carries no
        # information of its own; deriving it keeps the two from ever disagreeing.
        if isinstance(data, dict) and "preferential" not in data:
            return {**data, "preferential": data.get("agreement") is not None}
        return data

    @model_validator(mode="after")
    def _check(self) -> CertificateOfOrigin:
        if self.preferential != (self.agreement is not None):
            raise ValueError(
                "preferential must be true exactly when an agreement is named "
                f"(agreement={self.agreement!r}, preferential={self.preferential})"
            )
        if self.agreement is not None and self.agreement.upper() in {"NON-PREFERENTIAL", "NONE"}:
            raise ValueError("a non-preferential certificate has agreement None, not a placeholder name")
        seen: set[int] = set()
        for item in self.goods_items:
            if item.sequence in seen:
                raise ValueError(f"goods item sequence {item.sequence} appears twice")
            seen.add(item.sequence)
        return self


# ------------------------------------------------------------------------------------------- field paths
_INDEX = re.compile(r"\[\d+\]")


def generic_path(path: str) -> str:
    """``goods_items[3].hs_code`` → ``goods_items[].hs_code``."""
    return _INDEX.sub("[]", path)


def _unwrap(annotation: Any) -> Any:
    """The model class or scalar type behind Optional / tuple / Annotated."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        elif origin is tuple:
            annotation = get_args(annotation)[0]
        else:
            return annotation


def _is_tuple(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_tuple(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_tuple(a) for a in get_args(annotation) if a is not type(None))
    return origin is tuple


@cache
def _leaf_paths(model: type[BaseModel], prefix: str) -> frozenset[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}{'[]' if _is_tuple(info.annotation) else ''}"
        inner = _unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            paths |= _leaf_paths(inner, path + ".")
        else:
            paths.add(path)
    return frozenset(paths)


def field_paths() -> frozenset[str]:
    """Every leaf field path of :class:`CertificateOfOrigin`, generic form (``goods_items[].hs_code``)."""
    return _leaf_paths(CertificateOfOrigin, "")


def present_values(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The leaves a certificate fills, as ``(path, value)`` with list indexes (``goods_items[0].hs_code``).

    A leaf counts as present when it differs from its field's default: a format that cannot carry the special
    flags loses nothing when every flag is false, and one that cannot carry ``version`` loses nothing at version 1.
    Required fields (no default) are always present.
    """
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if not info.is_required() and value == info.default:
            continue
        yield from _present(value, f"{prefix}{name}")


def _present(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        yield from present_values(value, path + ".")
    elif isinstance(value, tuple):
        for index, element in enumerate(value):
            yield from _present(element, f"{path}[{index}]")
    elif value is not None:
        yield path, value
