"""Every size explanation reads exactly as it did before the wording moved to Jinja templates (issue 17).

`sizing_golden.json` was made from main while the explanations were still f-strings: for a grid that
straddles every threshold of both schemes (each Chinese industry, each EU category, ±1 around each
ceiling), missing optional figures, linked and partner enterprises, countries outside the EU and
money in other currencies, it holds the class, both explanations and a digest of the checks as
stored (the fields a check had then).
Regenerate only for a deliberate change of wording: `WRITE_SIZING_GOLDEN=1 pytest <this>`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

from models.core.data import load_yaml
from models.partners.sizing import Figures, classify, industry_codes

GOLDEN = Path(__file__).with_name("sizing_golden.json")
_PACKAGE = files("models.partners")
WAN = 10000
# The fields a check had when the golden file was made (the stored JSON keeps them as they were).
CHECK_KEYS = ("metric", "value", "op", "threshold", "unit", "passed")


def _cn_rules() -> dict[str, list[dict[str, int]]]:
    data = load_yaml((_PACKAGE / "sizing_cn_2011.yaml").read_text(encoding="utf-8"))
    return {
        i["code"]: [i["small_if_all_at_least"], i["medium_if_all_at_least"], i["sme_if_any_below"]]
        for i in data["industries"]
    }


def _levels(small: int, medium: int, sme: int) -> tuple[int, ...]:
    """One value inside each band a rule cuts: below small, small..medium, medium..SME, above SME."""
    return (small // 2, (small + medium) // 2, (medium + sme) // 2, sme * 2)


def _cn_cases() -> Iterator[Figures]:
    """Each metric of each industry at every threshold ±1 against every band of the others."""
    for code, (small, medium, sme) in _cn_rules().items():
        metrics = list(sme)
        for metric in metrics:
            others = [m for m in metrics if m != metric]
            bands = [_levels(small[m], medium[m], sme[m]) for m in others]
            for threshold in (small[metric], medium[metric], sme[metric]):
                for delta, rest in itertools.product((-1, 0, 1), itertools.product(*bands)):
                    values = dict(zip(others, rest, strict=True))
                    values[metric] = threshold + delta if metric == "employees" else threshold * WAN + delta
                    yield _cn_figures(
                        code, {m: v if m == metric else _scaled(m, v) for m, v in values.items()}
                    )
        # The figures a rule does not use: no total assets, or some given anyway; a group.
        if "assets" not in metrics:
            yield _cn_figures(code, {m: _scaled(m, medium[m]) for m in metrics}, assets=None)
        yield _cn_figures(code, {m: _scaled(m, small[m]) for m in metrics}, assets=123_456_789)
        yield _cn_figures(code, {m: _scaled(m, medium[m]) for m in metrics}, linked_employees=5)


def _scaled(metric: str, value: int) -> int:
    return value if metric == "employees" else value * WAN


def _cn_figures(code: str, values: dict[str, int], **extra: Any) -> Figures:
    assets = values.get("assets", 7_654_321 if code in ("industry", "retail") else None)
    return Figures(
        country="CN",
        industry=code,
        employees=values.get("employees", 42),
        revenue=values.get("revenue", 3_210_000),
        currency="CNY",
        total_assets=extra.pop("assets", assets),
        **extra,
    )


def _fx_cases() -> Iterator[Figures]:
    """Money in other currencies, around the converted thresholds, as whole units and as decimals."""
    rates = {
        k: Decimal(v)
        for k, v in load_yaml((_PACKAGE / "fx_rates.yaml").read_text(encoding="utf-8"))["per_eur"].items()
    }
    for currency in ("USD", "EUR", "JPY", "HKD", "GBP"):
        to_cny = rates["CNY"] / rates[currency]
        for code, rev_wan, assets_wan in (
            ("industry", 2000, None),
            ("construction", 6000, 5000),
            ("leasing_business", 100, 8000),
        ):
            for delta in (-1, 0, 1):
                revenue = int(rev_wan * WAN / to_cny) + delta
                assets = None if assets_wan is None else int(assets_wan * WAN / to_cny) + delta
                yield Figures("CN", code, 300, revenue, currency, total_assets=assets)
        yield Figures("CN", "retail", 60, Decimal("1234567.89"), currency, total_assets=Decimal("99.5"))
    for currency in ("CNY", "USD", "JPY", "GBP", "CHF", "SEK", "PLN", "DKK"):
        to_eur = 1 / rates[currency]
        for ceiling, delta in itertools.product((2_000_000, 10_000_000, 50_000_000), (-1, 0, 1)):
            amount = int(ceiling / to_eur) + delta
            yield Figures("DE", "retail", 9, amount, currency, total_assets=amount)
            yield Figures("US", "retail", 49, amount, currency)
        yield Figures("FR", "other", 12, Decimal("1500000.5"), currency, total_assets=Decimal("2500000.25"))


def _around(*ceilings: int) -> tuple[int, ...]:
    return tuple(ceiling + delta for ceiling in ceilings for delta in (-1, 0, 1))


STAFF = (0, *_around(10, 50, 250), 1000)
TURNOVER = (0, *_around(2_000_000, 10_000_000, 50_000_000), 80_000_000)
BALANCE = (None, *_around(2_000_000, 10_000_000, 43_000_000), 90_000_000)


def _eu_cases() -> Iterator[Figures]:
    """Each EU ceiling ±1 against one value in each band of the other two figures."""
    staff_bands, turnover_bands, balance_bands = (
        (5, 30, 100, 300),
        (1, 5_000_000, 20_000_000, 60_000_000),
        (None, 1, 5_000_000, 20_000_000, 60_000_000),
    )
    for staff, turnover, balance in itertools.chain(
        itertools.product(STAFF, turnover_bands, balance_bands),
        itertools.product(staff_bands, TURNOVER, balance_bands),
        itertools.product(staff_bands, turnover_bands, BALANCE),
    ):
        yield Figures("DE", "industry", staff, turnover, "EUR", total_assets=balance)
    for code in industry_codes():
        yield Figures("AT", code, 30, 12_000_000, "EUR", total_assets=9_000_000)
    for country in ("NO", "LI", "GR", "US", "JP", "GB", "CH"):
        yield Figures(country, "software_it", 40, 9_000_000, "EUR")
    # Linked enterprises in full, partner enterprises pro rata: they push a firm over a ceiling.
    for linked, partner in itertools.product((0, 3, 45), (0, 2, 210)):
        yield Figures(
            "DE",
            "wholesale",
            5,
            1_500_000,
            "EUR",
            total_assets=1_800_000,
            linked_employees=linked,
            linked_revenue=linked * 100_000,
            linked_assets=linked * 50_000,
            partner_ent_employees=partner,
            partner_ent_revenue=partner * 10_000,
            partner_ent_assets=partner * 40_000,
        )
    yield Figures("DE", "wholesale", 5, 1_500_000, "EUR", linked_revenue=Decimal("600000.01"))
    yield Figures("CN", "wholesale", 5, 1_500_000, "CNY", partner_ent_assets=1)


def _key(figures: Figures) -> str:
    defaults = Figures("", "", 0, 0, "")
    fields = {
        k: v for k, v in vars(figures).items() if k in ("country", "industry") or v != getattr(defaults, k)
    }
    return " ".join(f"{k}={v!r}" if isinstance(v, Decimal) else f"{k}={v}" for k, v in fields.items())


def _outputs() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for figures in itertools.chain(_cn_cases(), _fx_cases(), _eu_cases()):
        result = classify(figures).to_dict()
        checks = [[check[k] for k in CHECK_KEYS] for check in result["checks"]]
        explanation = result["explanation"]
        out[_key(figures)] = [result["size_class"], explanation["en"], explanation["zh-CN"], _digest(checks)]
    return out


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def _write(found: dict[str, Any]) -> None:
    """One case a line, so a deliberate change shows as a readable diff."""
    lines = (
        f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}" for k, v in found.items()
    )
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def test_every_explanation_reads_as_before() -> None:
    found = _outputs()
    if os.environ.get("WRITE_SIZING_GOLDEN"):
        _write(found)
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert found.keys() == expected.keys()
    for key, value in found.items():  # one case at a time, so a failure names it
        assert value == expected[key], key
