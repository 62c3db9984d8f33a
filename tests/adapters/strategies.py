"""Hypothesis strategies for canonical certificates of origin, shared by every adapter's tests.

``certificates()`` draws certificates that satisfy the project's CoO business rules (ADR 0005), so a correct
adapter's rendering has no error finding: the agreement is RCEP, ATIGA or non-preferential; a preferential
certificate names an importer in another country than the exporter (and a consignee, if any, too), and every goods
item has an HS code and a criterion from its agreement's list (RCEP HS codes at 6 digits, the RCEP form's level);
a non-preferential one has no criterion; the issue date is not after today (UTC); codes come from the same lists
the rules check. Every optional field is sometimes absent and sometimes filled, text includes Japanese and Thai,
and decimals include values a binary float would round.

Stable API (other test modules import it): ``certificates``, ``goods_items``, ``parties``, ``texts``, ``tokens``,
``decimals``, ``example_certificate``, ``AGREEMENTS``, ``PROPERTY_SETTINGS``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from adapters.model import (
    Address,
    Amount,
    Attachment,
    CertificateOfOrigin,
    CertificateStatus,
    GoodsItem,
    Location,
    Measure,
    Packages,
    Party,
    SpecialFlags,
    Transport,
    country_codes,
    currency_codes,
    rec20_units,
)

__all__ = [
    "AGREEMENTS",
    "PROPERTY_SETTINGS",
    "certificates",
    "decimals",
    "example_certificate",
    "goods_items",
    "parties",
    "texts",
    "tokens",
]

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""For round-trip properties: enough examples to hit every optional field, few enough for a quick suite."""

AGREEMENTS: tuple[str | None, ...] = ("RCEP", "ATIGA", None)
"""The agreements the CoO business rules know (None: non-preferential)."""

COUNTRIES = sorted(country_codes())
CURRENCIES = sorted(currency_codes())
UNITS = sorted(rec20_units())
PACKAGE_KINDS = ("BG", "BL", "BX", "CL", "CS", "CT", "DR", "NE", "PK", "PX", "1A", "4H")
MIME_TYPES = ("application/pdf", "image/png", "image/jpeg", "application/xml", "text/plain")

# Names the way they appear on real certificates in the gateway's partner countries, so that scripts other than
# Latin are always exercised, not only when the random text happens to hit them.
UNICODE_NAMES = (
    "株式会社星野産業貿易",
    "ホシノ・インダストリアル・トレーディング株式会社",
    "บริษัท สยามริเวอร์ไซด์ เอ็กซ์พอร์ต จำกัด",
    "กรมการค้าต่างประเทศ กระทรวงพาณิชย์",
    "PT Nusantara Niaga Sejahtera",
    "Công ty TNHH Thương mại Sài Gòn",
    "上海东方进出口有限公司",
    "주식회사 한빛무역",
    'O\'Brien & Søn <Export> "Ltd."',
)
UNICODE_PLACES = ("横浜市西区", "กรุงเทพมหานคร", "Jakarta Selatan", "Hà Nội", "Ōsaka")

# Values whose binary floating-point form is not exact: a float anywhere in a round trip shows up as a difference.
FLOAT_TRAPS = (
    Decimal("0.1") + Decimal("0.2"),
    Decimal("1234567.89"),
    Decimal("0.1"),
    Decimal("9007199254740993"),  # 2**53 + 1
    Decimal("12345678901234.567890"),
    Decimal("0.000001"),
    Decimal("100.10"),
    Decimal("0"),
)

RCEP_MAIN = ("WO", "PE", "CTC", "RVC", "CR")
RCEP_EXTRA = ("", " ACU", " DMI", " ACU DMI", " DMI ACU")
ATIGA_SINGLE = ("CC", "CTH", "CTSH", "SP")

# Characters every format can carry: no controls (tab and line feed are tested separately), no surrogates,
# no unassigned code points (which include U+FFFE/U+FFFF).
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"))


def _today() -> date:
    return datetime.now(UTC).date()


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Free text (names, descriptions): random Unicode, sometimes multi-line, plus real non-Latin names."""
    random_text = st.text(_CHARS, min_size=1, max_size=max_size).filter(lambda s: bool(s.strip()))
    multi_line = st.lists(random_text, min_size=2, max_size=3).map("\n".join)
    return st.one_of(random_text, st.sampled_from(UNICODE_NAMES + UNICODE_PLACES), multi_line)


def tokens(max_size: int = 20) -> st.SearchStrategy[str]:
    """Identifiers and codes: one line, no surrounding white space (inner spaces and any script allowed)."""
    plain = st.from_regex(r"[A-Z0-9][A-Z0-9/-]{0,15}", fullmatch=True)
    anything = st.text(_CHARS, min_size=1, max_size=max_size).filter(lambda s: s == s.strip() and s.strip() != "")
    return st.one_of(plain, anything)


def decimals(max_places: int = 6) -> st.SearchStrategy[Decimal]:
    """Non-negative decimals with up to ``max_places`` decimals and up to 15 integer digits, plus float traps."""
    drawn = st.integers(0, max_places).flatmap(
        lambda places: st.decimals(
            min_value=0, max_value=Decimal(10) ** 15 - 1, places=places, allow_nan=False, allow_infinity=False
        )
    )
    return st.one_of(st.sampled_from(FLOAT_TRAPS), drawn)


def _dates(max_value: date | None = None) -> st.SearchStrategy[date]:
    return st.dates(min_value=date(1990, 1, 1), max_value=max_value or date(2099, 12, 31))


def addresses(country: str | None = None) -> st.SearchStrategy[Address]:
    return st.builds(
        Address,
        lines=st.lists(texts(), max_size=3).map(tuple),
        city=st.none() | texts(),
        postal_code=st.none() | tokens(10),
        country=st.just(country) if country else st.none() | st.sampled_from(COUNTRIES),
    )


def parties(country: str | None = None) -> st.SearchStrategy[Party]:
    """A party; with ``country``, its address is always in that country (the business rules compare countries)."""
    address = addresses(country) if country else st.none() | addresses()
    return st.builds(Party, name=texts(), id=st.none() | tokens(), address=address)


def _criteria(agreement: str | None) -> st.SearchStrategy[str | None]:
    if agreement is None:
        return st.none()
    if agreement == "RCEP":
        return st.builds(lambda m, x: m + x, st.sampled_from(RCEP_MAIN), st.sampled_from(RCEP_EXTRA))
    percent = st.integers(1, 100).map(lambda n: f"{n}%")
    single = st.sampled_from(ATIGA_SINGLE) | percent
    combined = st.tuples(single, single).filter(lambda ab: ab[0] != ab[1]).map(" + ".join)
    partial = st.integers(1, 99).map(lambda n: f"PC {n}%")
    return st.one_of(st.just("WO"), single, combined, partial)


def _hs_codes(agreement: str | None) -> st.SearchStrategy[str]:
    # Form RCEP box 9 shows the 6-digit level (warning COO-HS-03 otherwise); Form D and others take tariff lines.
    lengths = st.just(6) if agreement == "RCEP" else st.integers(6, 10)
    return lengths.flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))


def _measures() -> st.SearchStrategy[Measure]:
    return st.builds(Measure, value=decimals(), unit=st.sampled_from(("KGM", "TNE", "GRM", "LTR", "H87", "C62")))


def goods_items(sequence: int, agreement: str | None) -> st.SearchStrategy[GoodsItem]:
    """One goods item that satisfies the business rules for ``agreement``."""
    preferential = agreement is not None
    return st.builds(
        GoodsItem,
        sequence=st.just(sequence),
        marks=st.none() | texts(),
        packages=st.none()
        | st.builds(Packages, count=st.none() | st.integers(0, 10**6), kind=st.none() | st.sampled_from(PACKAGE_KINDS)),
        description=texts(80),
        hs_code=_hs_codes(agreement) if preferential else st.none() | _hs_codes(None),
        origin_criterion=_criteria(agreement),
        origin_country=st.none() | st.sampled_from(COUNTRIES),
        quantity=st.none() | st.builds(Measure, value=decimals(), unit=st.sampled_from(UNITS)),
        gross_weight=st.none() | _measures(),
        fob_value=st.none() | st.builds(Amount, value=decimals(2), currency=st.sampled_from(CURRENCIES)),
        invoice_number=st.none() | tokens(),
        invoice_date=st.none() | _dates(),
        manufacturer=st.none() | parties(),
    )


@st.composite
def certificates(
    draw: st.DrawFn,
    *,
    min_goods: int = 1,
    max_goods: int = 4,
    agreements: tuple[str | None, ...] = AGREEMENTS,
) -> CertificateOfOrigin:
    """A certificate that passes the CoO business rules (``min_goods`` ≥ 1 for that; 0 breaks COO-GI-01)."""
    agreement = draw(st.sampled_from(agreements))
    preferential = agreement is not None
    exporter_country = draw(st.sampled_from(COUNTRIES))
    other_country = st.sampled_from(COUNTRIES).filter(lambda c: c != exporter_country)
    if preferential:
        # COO-PTY-01/03: importer named, and importer and consignee outside the exporter's country.
        importer: Party | None = draw(parties(draw(other_country)))
        consignee = draw(st.none() | parties(draw(other_country)))
    else:
        importer = draw(st.none() | parties())
        consignee = draw(st.none() | parties())
    n_goods = draw(st.integers(min_goods, max_goods))
    # Sequences need not be 1..n, only unique: draw distinct ones and keep their order.
    sequences = draw(st.lists(st.integers(1, 10**6), min_size=n_goods, max_size=n_goods, unique=True))
    goods = tuple(draw(goods_items(seq, agreement)) for seq in sequences)
    status = draw(st.sampled_from(CertificateStatus))
    port = st.none() | st.builds(
        Location,
        code=st.none() | st.from_regex(r"[A-Z]{2}[A-Z2-9]{3}", fullmatch=True),
        name=st.none() | texts(),
    )
    return CertificateOfOrigin(
        number=draw(tokens()),
        version=draw(st.integers(1, 99)),
        status=status,
        replaces=draw(tokens() if status is CertificateStatus.REPLACEMENT else st.none() | tokens()),
        issue_date=draw(_dates(max_value=_today())),
        issue_place=draw(st.none() | texts()),
        issuing_authority=draw(st.none() | parties()),
        issuing_country=draw(st.sampled_from(COUNTRIES)),
        agreement=agreement,
        exporter=draw(parties(exporter_country)),
        producer=draw(st.none() | parties()),
        importer=importer,
        consignee=consignee,
        transport=draw(
            st.none()
            | st.builds(
                Transport,
                departure_date=st.none() | _dates(),
                means=st.none() | texts(),
                vessel=st.none() | texts(),
                loading_port=port,
                discharge_port=port,
            )
        ),
        goods_items=goods,
        remarks=tuple(draw(st.lists(texts(), max_size=3))),
        exporter_declaration=draw(st.none() | texts(120)),
        flags=draw(st.builds(SpecialFlags)),
        attachments=tuple(
            draw(
                st.lists(
                    st.builds(
                        Attachment,
                        filename=st.none() | tokens(),
                        mime_type=st.sampled_from(MIME_TYPES),
                        content=st.binary(max_size=64),
                    ),
                    max_size=2,
                )
            )
        ),
    )


# ------------------------------------------------------------------------------------------- explicit examples
_JP_EXPORTER = Party(
    name="株式会社星野産業貿易",
    id="4020001098765",
    address=Address(lines=("みなとみらい二丁目3番1号",), city="横浜市西区", postal_code="220-0012", country="JP"),
)
_TH_IMPORTER = Party(
    name="บริษัท เจ้าพระยา อินดัสเทรียล ซัพพลาย จำกัด",
    id="0115561004321",
    address=Address(lines=("99/12 หมู่ 5 ถนนบางนา-ตราด กม. 23",), city="บางเสาธง", postal_code="10570", country="TH"),
)
_JP_ISSUER = Party(
    name="日本商工会議所",
    id="JP-JCCI",
    address=Address(lines=("丸の内三丁目2番2号",), city="東京都千代田区", postal_code="100-0005", country="JP"),
)


def example_certificate(n_goods: int, *, agreement: str | None = "RCEP") -> CertificateOfOrigin:
    """A deterministic, fully filled certificate (Japanese exporter, Thai importer) with ``n_goods`` items.

    Amounts cycle through values binary floats round (0.1 + 0.2, 1234567.89 …). Valid under the business rules
    for ``n_goods`` ≥ 1 and ``agreement`` in :data:`AGREEMENTS`.
    """
    criteria = {"RCEP": ("CTC", "RVC ACU", "WO", "CTC DMI"), "ATIGA": ("40%", "CTSH + 35%", "WO", "PC 25%")}
    items = []
    for i in range(n_goods):
        trap = FLOAT_TRAPS[i % len(FLOAT_TRAPS)]
        items.append(
            GoodsItem(
                sequence=i + 1,
                marks=f"HOSHINO / LAEM CHABANG / C/NO. {i * 10 + 1}-{i * 10 + 10}",
                packages=Packages(count=10, kind="CT"),
                description=f"自動変速機 / ชุดเกียร์อัตโนมัติ, item {i + 1}",
                hs_code="870840" if agreement != "ATIGA" else "87084000",
                origin_criterion=criteria[agreement][i % 4] if agreement in criteria else None,
                origin_country="JP",
                quantity=Measure(value=Decimal(i + 1), unit="H87"),
                gross_weight=Measure(value=Decimal("78.125") * (i + 1), unit="KGM"),
                fob_value=Amount(value=trap, currency="USD"),
                invoice_number=f"HIT-26-EX-{1 + i // 25:04d}",
                invoice_date=date(2026, 4, 17),
                manufacturer=_JP_EXPORTER if i % 2 else None,
            )
        )
    return CertificateOfOrigin(
        number=f"JP-RCEP-2026-{n_goods:07d}",
        version=2,
        status=CertificateStatus.REPLACEMENT,
        replaces=f"JP-RCEP-2026-{n_goods:07d}-R0",
        issue_date=_today() - timedelta(days=3),
        issue_place="東京",
        issuing_authority=_JP_ISSUER,
        issuing_country="JP",
        agreement=agreement,
        exporter=_JP_EXPORTER,
        producer=_JP_EXPORTER,
        importer=_TH_IMPORTER,
        consignee=_TH_IMPORTER,
        transport=Transport(
            departure_date=date(2026, 4, 24),
            means="By sea",
            vessel="KANAGAWA BREEZE 118W",
            loading_port=Location(code="JPYOK", name="横浜"),
            discharge_port=Location(code="THLCH", name="แหลมฉบัง"),
        ),
        goods_items=tuple(items),
        remarks=("Third-party invoice issued in Singapore.", "備考: 再発給"),
        exporter_declaration="The undersigned declares that the goods meet the origin requirements.",
        flags=SpecialFlags(back_to_back=False, third_party_invoicing=True, issued_retroactively=True),
        attachments=(Attachment(filename="invoice.pdf", mime_type="application/pdf", content=b"%PDF-1.7\n\x00\xff"),),
    )
