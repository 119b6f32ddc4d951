"""Table-driven tests of MSME size classification (CN 工信部联企业〔2011〕300号, EU 2003/361/EC).

Expected classes come from the rules written out again below, not from the module's output.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from importlib.resources import files
from typing import Any

import jinja2
import pytest
import yaml
from pydantic import ValidationError

from models.core.errors import InputRejected
from models.partners import sizing
from models.partners.explain import render_explanation
from models.partners.sizing import (
    EU_COUNTRIES,
    Figures,
    classify,
    industry_codes,
    industry_name,
    scheme_for,
)

WAN = Decimal(10000)

# 中小企业划型标准规定 as read from the 2011 document, in 万元 and persons:
# (SME if ANY below, medium if ALL at least, small if ALL at least); otherwise micro.
CN_TABLE: dict[str, tuple[dict[str, int], dict[str, int], dict[str, int]]] = {
    "agriculture": ({"revenue": 20000}, {"revenue": 500}, {"revenue": 50}),
    "industry": (
        {"employees": 1000, "revenue": 40000},
        {"employees": 300, "revenue": 2000},
        {"employees": 20, "revenue": 300},
    ),
    "construction": (
        {"revenue": 80000, "assets": 80000},
        {"revenue": 6000, "assets": 5000},
        {"revenue": 300, "assets": 300},
    ),
    "wholesale": (
        {"employees": 200, "revenue": 40000},
        {"employees": 20, "revenue": 5000},
        {"employees": 5, "revenue": 1000},
    ),
    "retail": (
        {"employees": 300, "revenue": 20000},
        {"employees": 50, "revenue": 500},
        {"employees": 10, "revenue": 100},
    ),
    "transport": (
        {"employees": 1000, "revenue": 30000},
        {"employees": 300, "revenue": 3000},
        {"employees": 20, "revenue": 200},
    ),
    "warehousing": (
        {"employees": 200, "revenue": 30000},
        {"employees": 100, "revenue": 1000},
        {"employees": 20, "revenue": 100},
    ),
    "postal": (
        {"employees": 1000, "revenue": 30000},
        {"employees": 300, "revenue": 2000},
        {"employees": 20, "revenue": 100},
    ),
    "accommodation": (
        {"employees": 300, "revenue": 10000},
        {"employees": 100, "revenue": 2000},
        {"employees": 10, "revenue": 100},
    ),
    "catering": (
        {"employees": 300, "revenue": 10000},
        {"employees": 100, "revenue": 2000},
        {"employees": 10, "revenue": 100},
    ),
    "info_transmission": (
        {"employees": 2000, "revenue": 100000},
        {"employees": 100, "revenue": 1000},
        {"employees": 10, "revenue": 100},
    ),
    "software_it": (
        {"employees": 300, "revenue": 10000},
        {"employees": 100, "revenue": 1000},
        {"employees": 10, "revenue": 50},
    ),
    "real_estate": (
        {"revenue": 200000, "assets": 10000},
        {"revenue": 1000, "assets": 5000},
        {"revenue": 100, "assets": 2000},
    ),
    "property_management": (
        {"employees": 1000, "revenue": 5000},
        {"employees": 300, "revenue": 1000},
        {"employees": 100, "revenue": 500},
    ),
    "leasing_business": (
        {"employees": 300, "assets": 120000},
        {"employees": 100, "assets": 8000},
        {"employees": 10, "assets": 100},
    ),
    "other": ({"employees": 300}, {"employees": 100}, {"employees": 10}),
}

# Recommendation 2003/361/EC, smallest first: (class, staff below, turnover at most, BS at most).
EU_CEILINGS = (
    ("micro", 10, Decimal(2_000_000), Decimal(2_000_000)),
    ("small", 50, Decimal(10_000_000), Decimal(10_000_000)),
    ("medium", 250, Decimal(50_000_000), Decimal(43_000_000)),
)


# --- reference rules, written independently of models.partners.sizing ----------------------------------


def natural(metric: str, threshold_wan: int) -> Decimal | int:
    """Return a table threshold in the units Figures takes: persons, or whole CNY."""
    return threshold_wan if metric == "employees" else Decimal(threshold_wan) * WAN


def one_below(metric: str, value: Decimal | int) -> Decimal | int:
    """Return the value one unit below: one person, or one yuan (1999.9999万 for 2000万)."""
    return value - 1


def expected_cn(code: str, values: dict[str, Decimal | int]) -> str:
    """Classify by the 2011 rules: SME if any metric is below the ceiling, then medium, small."""
    sme, medium, small = CN_TABLE[code]
    if all(values[m] >= natural(m, t) for m, t in sme.items()):
        return "large"
    if all(values[m] >= natural(m, t) for m, t in medium.items()):
        return "medium"
    if all(values[m] >= natural(m, t) for m, t in small.items()):
        return "small"
    return "micro"


def expected_eu(staff: int, turnover: Decimal, balance: Decimal | None) -> str:
    """Classify by 2003/361/EC: the smallest category whose staff AND (turnover OR BS) hold."""
    for name, staff_below, turnover_max, balance_max in EU_CEILINGS:
        money_ok = turnover <= turnover_max or (balance is not None and balance <= balance_max)
        if staff < staff_below and money_ok:
            return name
    return "large"


def cn_figures(code: str, values: dict[str, Decimal | int], currency: str = "CNY") -> Figures:
    """Build CN figures; metrics the industry does not use are zero."""
    uses_assets = "assets" in CN_TABLE[code][0]
    return Figures(
        country="CN",
        industry=code,
        employees=int(values.get("employees", 0)),
        revenue=Decimal(values.get("revenue", 0)),
        currency=currency,
        total_assets=Decimal(values["assets"]) if uses_assets else None,
    )


def eu_figures(staff: int, turnover: Decimal, balance: Decimal | None, **group: Any) -> Figures:
    """Build figures for a German firm in EUR."""
    return Figures(
        country="DE",
        industry="industry",
        employees=staff,
        revenue=turnover,
        currency="EUR",
        total_assets=balance,
        **group,
    )


def fx_per_eur() -> dict[str, Decimal]:
    """Read the indicative rates (data, not logic) so conversion cases can aim at thresholds."""
    text = files("models.partners").joinpath("fx_rates.yaml").read_text(encoding="utf-8")
    return {code: Decimal(rate) for code, rate in yaml.safe_load(text)["per_eur"].items()}


# --- China: at and one unit below every threshold of every industry --------------------------


def _cn_boundary_cases() -> Iterator[Any]:
    for code, (sme, medium, small) in CN_TABLE.items():
        at_sme = {m: natural(m, t) for m, t in sme.items()}
        at_medium = {m: natural(m, t) for m, t in medium.items()}
        at_small = {m: natural(m, t) for m, t in small.items()}
        # Large needs ALL metrics at the SME ceiling; one unit below on ANY one makes it an SME.
        yield pytest.param(code, at_sme, "large", id=f"{code}-all-at-sme-ceiling")
        for m in sme:
            values = {**at_sme, m: one_below(m, at_sme[m])}
            yield pytest.param(code, values, "medium", id=f"{code}-{m}-below-sme-ceiling")
        if len(sme) > 1:
            # The "or": far above on one metric does not make it large when the other is below.
            for m, other in itertools.permutations(sme, 2):
                values = {m: at_sme[m] * 10, other: one_below(other, at_sme[other])}
                yield pytest.param(code, values, "medium", id=f"{code}-{m}-x10-{other}-below")
        yield pytest.param(code, at_medium, "medium", id=f"{code}-all-at-medium-floor")
        for m in medium:
            values = {**at_medium, m: one_below(m, at_medium[m])}
            yield pytest.param(code, values, "small", id=f"{code}-{m}-below-medium-floor")
        yield pytest.param(code, at_small, "small", id=f"{code}-all-at-small-floor")
        for m in small:
            values = {**at_small, m: one_below(m, at_small[m])}
            yield pytest.param(code, values, "micro", id=f"{code}-{m}-below-small-floor")


@pytest.mark.parametrize(("code", "values", "expected"), list(_cn_boundary_cases()))
def test_cn_boundaries(code: str, values: dict[str, Decimal | int], expected: str) -> None:
    assert expected_cn(code, values) == expected  # the case is built as intended
    result = classify(cn_figures(code, values))
    assert result.size_class == expected
    assert result.scheme == "CN-2011-300"
    assert result.industry == code


def _grid(code: str) -> list[dict[str, Decimal | int]]:
    """Return every combination of values around every threshold of one industry."""
    axes = {}
    for metric in CN_TABLE[code][0]:
        points = {0}
        for rule in CN_TABLE[code]:
            at = natural(metric, rule[metric])
            points |= {one_below(metric, at), at, at * 10}
        axes[metric] = sorted(points)
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


@pytest.mark.parametrize("code", list(CN_TABLE))
def test_cn_grid_agrees_with_reference(code: str) -> None:
    for values in _grid(code):
        assert classify(cn_figures(code, values)).size_class == expected_cn(code, values), values


@pytest.mark.parametrize("code", list(CN_TABLE))
def test_cn_table_matches_the_document(code: str) -> None:
    text = files("models.partners").joinpath("sizing_cn_2011.yaml").read_text(encoding="utf-8")
    row = {r["code"]: r for r in yaml.safe_load(text)["industries"]}[code]
    sme, medium, small = CN_TABLE[code]
    assert row["sme_if_any_below"] == sme
    assert row["medium_if_all_at_least"] == medium
    assert row["small_if_all_at_least"] == small


def test_cn_industry_codes_are_the_table() -> None:
    assert industry_codes() == tuple(CN_TABLE)


def test_cn_source_recorded() -> None:
    text = files("models.partners").joinpath("sizing_cn_2011.yaml").read_text(encoding="utf-8")
    source = yaml.safe_load(text)["source"]
    assert source["document"] == "工信部联企业〔2011〕300号"
    assert str(source["date"]) == "2011-06-18"


def test_cn_ignores_group_figures_and_says_so() -> None:
    figures = Figures(
        country="CN",
        industry="industry",
        employees=19,
        revenue=Decimal(3_000_000),
        currency="CNY",
        linked_employees=500,
        linked_revenue=Decimal(100_000_000),
    )
    result = classify(figures)
    assert result.size_class == "micro"
    assert "legal entity" in result.explanation["en"]
    assert "法人" in result.explanation["zh-CN"]


@pytest.mark.parametrize("code", ["construction", "real_estate", "leasing_business"])
def test_cn_assets_required_where_the_table_uses_them(code: str) -> None:
    figures = Figures("CN", code, 50, Decimal(1_000_000), "CNY")
    with pytest.raises(InputRejected) as caught:
        classify(figures)
    assert [p.where for p in caught.value.problems] == ["total_assets"]


# --- EU -----------------------------------------------------------------------------------

M = 1_000_000
EU_CASES = [
    # staff ceilings, financials comfortably small
    (9, Decimal(M), None, "micro"),
    (10, Decimal(M), None, "small"),
    (49, Decimal(M), None, "small"),
    (50, Decimal(M), None, "medium"),
    (249, Decimal(M), None, "medium"),
    (250, Decimal(M), None, "large"),
    (250, Decimal(0), Decimal(0), "large"),
    # turnover ceilings, no balance sheet: turnover alone decides
    (5, Decimal(2 * M), None, "micro"),
    (5, Decimal(2 * M) + Decimal("0.01"), None, "small"),
    (5, Decimal(2 * M + 1), None, "small"),
    (5, Decimal(10 * M), None, "small"),
    (5, Decimal(10 * M + 1), None, "medium"),
    (5, Decimal(50 * M), None, "medium"),
    (5, Decimal(50 * M + 1), None, "large"),
    # turnover over, balance sheet total at or over its ceiling
    (5, Decimal(2 * M + 1), Decimal(2 * M), "micro"),
    (5, Decimal(2 * M + 1), Decimal(2 * M + 1), "small"),
    (5, Decimal(10 * M + 1), Decimal(10 * M), "small"),
    (5, Decimal(10 * M + 1), Decimal(10 * M) + Decimal("0.01"), "medium"),
    (5, Decimal(50 * M + 1), Decimal(43 * M), "medium"),
    (5, Decimal(50 * M + 1), Decimal(43 * M + 1), "large"),
    (200, Decimal(60 * M), Decimal(40 * M), "medium"),
    (200, Decimal(60 * M), Decimal(44 * M), "large"),
    # turnover within, balance sheet over: the "or" keeps the smaller class
    (5, Decimal(M), Decimal(100 * M), "micro"),
    (45, Decimal(10 * M), Decimal(50 * M), "small"),
    (249, Decimal(50 * M), Decimal(100 * M), "medium"),
    # staff decides even when money is tiny or huge
    (49, Decimal(0), Decimal(0), "small"),
    (9, Decimal(60 * M), Decimal(60 * M), "large"),
]


@pytest.mark.parametrize(
    ("staff", "turnover", "balance", "expected"),
    EU_CASES,
    ids=[f"staff{s}-to{t}-bs{b}" for s, t, b, _ in EU_CASES],
)
def test_eu_boundaries(
    staff: int,
    turnover: Decimal,
    balance: Decimal | None,
    expected: str,
) -> None:
    assert expected_eu(staff, turnover, balance) == expected
    result = classify(eu_figures(staff, turnover, balance))
    assert result.size_class == expected
    assert result.scheme == "EU-2003-361"


# (own figures over the base of 5 staff and 1m EUR turnover, group figures, class with the group)
GROUP_CASES = [
    ({"employees": 8}, {"linked_employees": 2}, "small"),
    ({"employees": 8}, {"partner_ent_employees": 1}, "micro"),
    ({"employees": 8}, {"partner_ent_employees": 2}, "small"),
    ({"employees": 45}, {"linked_employees": 5}, "medium"),
    ({"employees": 49}, {"linked_employees": 200, "partner_ent_employees": 1}, "large"),
    ({"revenue": Decimal(1_500_000)}, {"linked_revenue": Decimal(500_000)}, "micro"),
    (
        {"revenue": Decimal(1_500_000)},
        {"linked_revenue": Decimal(500_000), "partner_ent_revenue": Decimal("0.01")},
        "small",
    ),
    ({"revenue": Decimal(9 * M)}, {"partner_ent_revenue": Decimal(1_000_001)}, "medium"),
    (
        {"revenue": Decimal(3 * M), "total_assets": Decimal(1_500_000)},
        {"linked_assets": Decimal(500_000)},
        "micro",
    ),
    (
        {"revenue": Decimal(3 * M), "total_assets": Decimal(1_500_000)},
        {"linked_assets": Decimal(500_000), "partner_ent_assets": Decimal(1)},
        "small",
    ),
]


@pytest.mark.parametrize(("own", "group", "expected"), GROUP_CASES)
def test_eu_group_aggregation(own: dict[str, Any], group: dict[str, Any], expected: str) -> None:
    base: dict[str, Any] = {"employees": 5, "revenue": Decimal(M), "total_assets": None}
    base.update(own)
    staff = base["employees"] + sum(v for k, v in group.items() if k.endswith("employees"))
    turnover = base["revenue"] + sum(v for k, v in group.items() if k.endswith("revenue"))
    balance = base["total_assets"]
    if balance is not None:
        balance += sum(v for k, v in group.items() if k.endswith("assets"))
    assert expected_eu(staff, turnover, balance) == expected
    alone = classify(eu_figures(base["employees"], base["revenue"], base["total_assets"]))
    result = classify(eu_figures(base["employees"], base["revenue"], base["total_assets"], **group))
    assert result.size_class == expected
    # Alone the firm is classed on its own figures; several cases above move up a class.
    assert alone.size_class == expected_eu(base["employees"], base["revenue"], base["total_assets"])
    assert "linked" in result.explanation["en"]
    assert "关联企业" in result.explanation["zh-CN"]


# --- currency conversion ---------------------------------------------------------------------

FOREIGN_TO_EUR = [c for c in fx_per_eur() if c != "EUR"]
FOREIGN_TO_CNY = [c for c in fx_per_eur() if c != "CNY"]


@pytest.mark.parametrize("currency", FOREIGN_TO_EUR)
@pytest.mark.parametrize(("extra", "expected"), [(Decimal(0), "micro"), (Decimal(1), "small")])
def test_eu_turnover_converted_to_eur(currency: str, extra: Decimal, expected: str) -> None:
    # 2m EUR quoted at the reference rate converts back exactly; one unit more is over.
    amount = Decimal(2 * M) * fx_per_eur()[currency] + extra
    figures = Figures("FR", "retail", 5, amount, currency)
    result = classify(figures)
    assert result.size_class == expected
    assert f"1 {currency} = " in result.explanation["en"]
    assert "EUR" in result.explanation["en"]
    assert "折算" in result.explanation["zh-CN"]


@pytest.mark.parametrize("currency", FOREIGN_TO_CNY)
@pytest.mark.parametrize(("side", "expected"), [("above", "small"), ("below", "micro")])
def test_cn_revenue_converted_to_cny(currency: str, side: str, expected: str) -> None:
    # Industry small floor is 20 employees and 300万 CNY; aim one currency unit either side.
    rates = fx_per_eur()
    exact = Decimal(300) * WAN * rates[currency] / rates["CNY"]
    if side == "above":
        amount = exact.quantize(Decimal("0.01"), rounding=ROUND_CEILING) + 1
    else:
        amount = exact.quantize(Decimal("0.01"), rounding=ROUND_FLOOR) - 1
    result = classify(Figures("CN", "industry", 20, amount, currency))
    assert result.size_class == expected
    assert f"1 {currency} = " in result.explanation["en"]
    assert "CNY" in result.explanation["en"]
    assert result.figures_used["fx_as_of"]


def test_currency_code_is_case_insensitive() -> None:
    result = classify(Figures("CN", "industry", 20, Decimal(3_000_000), "cny"))
    assert result.size_class == "small"


# --- which scheme ----------------------------------------------------------------------------


@pytest.mark.parametrize("country", sorted(EU_COUNTRIES))
def test_eu_countries_use_eu_without_default_note(country: str) -> None:
    assert scheme_for(country) == "EU-2003-361"
    result = classify(Figures(country, "retail", 5, Decimal(M), "EUR"))
    assert "by default" not in result.explanation["en"]


@pytest.mark.parametrize("country", ["US", "JP", "GB", "CH", "HK", "BR", "in"])
def test_other_countries_use_eu_by_default(country: str) -> None:
    assert scheme_for(country) == "EU-2003-361"
    result = classify(Figures(country, "retail", 5, Decimal(M), "EUR"))
    assert result.scheme == "EU-2003-361"
    assert "applied by default" in result.explanation["en"]
    assert "默认适用" in result.explanation["zh-CN"]


@pytest.mark.parametrize("country", ["CN", "cn", " CN "])
def test_china_uses_the_2011_scheme(country: str) -> None:
    assert scheme_for(country) == "CN-2011-300"


def test_eu_countries_include_eea_and_norway() -> None:
    assert {"DE", "FR", "GR", "IS", "LI", "NO"} <= EU_COUNTRIES
    assert "CN" not in EU_COUNTRIES and "GB" not in EU_COUNTRIES
    assert len(EU_COUNTRIES) == 30


# --- rejected input --------------------------------------------------------------------------

REJECTED = [
    ({"industry": "mining"}, ["industry"]),
    ({"industry": ""}, ["industry"]),
    ({"employees": -1}, ["employees"]),
    ({"revenue": Decimal(-1)}, ["revenue"]),
    ({"total_assets": Decimal("-0.01")}, ["total_assets"]),
    ({"linked_employees": -3}, ["linked_employees"]),
    ({"partner_ent_revenue": Decimal(-5)}, ["partner_ent_revenue"]),
    ({"linked_assets": Decimal(-5)}, ["linked_assets"]),
    ({"revenue": Decimal("NaN")}, ["revenue"]),
    ({"currency": "XYZ"}, ["currency"]),
    ({"currency": ""}, ["currency"]),
    ({"country": ""}, ["country"]),
    ({"country": "Germany"}, ["country"]),
    ({"employees": 2.5}, ["employees"]),
    (
        {"industry": "mining", "employees": -1, "currency": "XYZ"},
        ["industry", "currency", "employees"],
    ),
]


@pytest.mark.parametrize(("change", "fields"), REJECTED)
def test_rejected_input_names_the_field(change: dict[str, Any], fields: list[str]) -> None:
    values: dict[str, Any] = {
        "country": "DE",
        "industry": "industry",
        "employees": 10,
        "revenue": Decimal(M),
        "currency": "EUR",
    }
    values.update(change)
    with pytest.raises(InputRejected) as caught:
        classify(Figures(**values))
    assert [p.where for p in caught.value.problems] == fields


def test_negative_employees_rejected_under_china_too() -> None:
    with pytest.raises(InputRejected) as caught:
        classify(Figures("CN", "retail", -1, Decimal(0), "CNY"))
    assert caught.value.problems[0].where == "employees"
    assert "negative" in caught.value.problems[0].message


# --- explanation -----------------------------------------------------------------------------

EXPLAINED = [
    (
        Figures("CN", "industry", 45, Decimal(25_000_000), "CNY"),
        "small",
        [
            "Small (China, 工信部联企业〔2011〕300号, industry 工业)",
            "45 employees >= 20",
            "revenue 25,000,000 CNY (2,500万) >= 300万",
            "but 45 employees < 300 so not medium.",
        ],
        ["小型企业", "从业人员45人 ≥ 20人", "营业收入2,500万元 ≥ 300万元", "从业人员45人 < 300人"],
    ),
    (
        Figures("CN", "industry", 45, Decimal(5_000_000), "CNY"),
        "small",
        ["45 employees >= 20", "revenue 5,000,000 CNY (500万) >= 300万", "< 2,000万"],
        ["营业收入500万元 ≥ 300万元", "营业收入500万元 < 2,000万元", "不属于中型企业"],
    ),
    (
        Figures("CN", "industry", 5000, Decimal(399_999_999), "CNY"),
        "medium",
        ["revenue 399,999,999 CNY (39,999.9999万) < 40,000万 so an SME", "5,000 employees >= 300"],
        ["营业收入39,999.9999万元 < 40,000万元", "属于中小微型企业", "从业人员5,000人 ≥ 300人"],
    ),
    (
        Figures("CN", "industry", 1000, Decimal(400_000_000), "CNY"),
        "large",
        ["1,000 employees >= 1,000", "(40,000万) >= 40,000万", "so not an SME"],
        ["从业人员1,000人 ≥ 1,000人", "营业收入40,000万元 ≥ 40,000万元", "不属于中小微型企业"],
    ),
    (
        Figures("CN", "software_it", 9, Decimal(600_000), "CNY"),
        "micro",
        ["industry 软件和信息技术服务业", "9 employees < 10 so not small"],
        ["行业：软件和信息技术服务业", "从业人员9人 < 10人", "不属于小型企业"],
    ),
    (
        Figures("CN", "real_estate", 0, Decimal(M), "CNY", total_assets=Decimal(19_999_999)),
        "micro",
        ["total assets 19,999,999 CNY (1,999.9999万) < 2,000万"],
        ["资产总额1,999.9999万元 < 2,000万元"],
    ),
    (
        Figures("DE", "retail", 45, Decimal(5_000_000), "EUR"),
        "small",
        ["45 staff < 50", "turnover 5,000,000 EUR <= 10,000,000 EUR", "45 staff >= 10"],
        ["员工人数45人 < 50人", "营业额5,000,000欧元 ≤ 10,000,000欧元", "不属于微型企业"],
    ),
    (
        Figures("DE", "industry", 200, Decimal(60_000_000), "EUR", total_assets=Decimal(40 * M)),
        "medium",
        [
            "balance sheet total 40,000,000 EUR <= 43,000,000 EUR",
            "turnover 60,000,000 EUR > 50,000,000 EUR",
        ],
        ["资产负债表总额40,000,000欧元 ≤ 43,000,000欧元", "营业额60,000,000欧元 > 50,000,000欧元"],
    ),
    (
        Figures("IT", "industry", 250, Decimal(M), "EUR"),
        "large",
        ["250 staff >= 250 so not medium"],
        ["员工人数250人 ≥ 250人", "不属于中型企业"],
    ),
]


@pytest.mark.parametrize(("figures", "expected", "en", "zh"), EXPLAINED)
def test_explanation_gives_the_deciding_numbers(
    figures: Figures, expected: str, en: list[str], zh: list[str]
) -> None:
    result = classify(figures)
    assert result.size_class == expected
    for text in en:
        assert text in result.explanation["en"]
    for text in zh:
        assert text in result.explanation["zh-CN"]


def test_checks_are_the_deciding_thresholds_in_order() -> None:
    result = classify(Figures("CN", "industry", 45, Decimal(25_000_000), "CNY"))
    assert [(c.metric, c.value, c.op, c.threshold, c.passed) for c in result.checks] == [
        ("employees", Decimal(45), ">=", Decimal(20), True),
        ("revenue", Decimal(2500), ">=", Decimal(300), True),
        ("employees", Decimal(45), ">=", Decimal(300), False),
    ]
    assert result.checks[1].unit == "万元 CNY"


def test_checks_carry_the_figure_as_given_and_the_rule_they_come_from() -> None:
    cn = classify(Figures("CN", "construction", 9, 1_000_000, "USD", total_assets=2_000_000))
    revenue = cn.checks[0]
    assert (revenue.metric, revenue.amount, revenue.currency) == ("revenue", Decimal(1_000_000), "USD")
    assert revenue.value == Decimal("731.121015")  # 万元 CNY at the indicative rate, to the fen
    assert revenue.rule == "工信部联企业〔2011〕300号, 建筑业, small_if_all_at_least"
    assert revenue.size_class == "small"
    # Small by its balance sheet although its group's turnover is over the ceiling; not micro by staff.
    eu = classify(Figures("DE", "retail", 12, 3 * M, "EUR", linked_revenue=9 * M, total_assets=M))
    staff, balance, turnover, micro_staff = eu.checks
    assert (staff.amount, staff.currency, staff.holds) == (Decimal(12), "", "<")
    assert (turnover.amount, turnover.passed, turnover.holds) == (Decimal(12 * M), False, ">")
    assert (micro_staff.size_class, micro_staff.holds) == ("micro", ">=")
    assert balance.rule == "Commission Recommendation 2003/361/EC, Annex Art. 2(2)"
    assert eu.to_dict()["checks"][1]["size_class"] == "small"


def test_explanation_templates_refuse_a_missing_name() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_explanation({"scheme": "EU"})


def test_result_serializes_to_json() -> None:
    result = classify(Figures("US", "retail", 12, Decimal(3 * M), "USD", total_assets=Decimal(M)))
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["size_class"] == "small"
    assert data["scheme"] == "EU-2003-361"
    assert set(data["explanation"]) == {"en", "zh-CN"}
    assert all(isinstance(check["value"], str) for check in data["checks"])


# --- names and table validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "lang", "name"),
    [
        ("industry", "zh-CN", "工业"),
        ("retail", "en", "Retail"),
        ("other", "zh-CN", "其他未列明行业"),
    ],
)
def test_industry_name(code: str, lang: str, name: str) -> None:
    assert industry_name(code, lang) == name


@pytest.mark.parametrize(
    ("code", "lang", "field"),
    [("mining", "en", "industry"), ("retail", "fr", "lang")],
)
def test_industry_name_rejects(code: str, lang: str, field: str) -> None:
    with pytest.raises(InputRejected) as caught:
        industry_name(code, lang)
    assert [p.where for p in caught.value.problems] == [field]


def _cn_yaml() -> dict[str, Any]:
    text = files("models.partners").joinpath("sizing_cn_2011.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_cn_table_rejects_unknown_keys() -> None:
    data = _cn_yaml()
    data["industries"][0]["typo_rule"] = {"revenue": 1}
    with pytest.raises(ValidationError):
        sizing._CnTable.model_validate(data)


def test_cn_table_rejects_thresholds_out_of_order() -> None:
    data = _cn_yaml()
    data["industries"][1]["small_if_all_at_least"]["employees"] = 3000
    with pytest.raises(ValidationError):
        sizing._CnTable.model_validate(data)
