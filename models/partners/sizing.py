"""Classify a partner as a micro, small, medium or large enterprise, and say why.

Two schemes, both kept as data in `models/data/` and validated when first loaded:

- China, 中小企业划型标准规定 (工信部联企业〔2011〕300号), thresholds by industry on the legal
  entity's employees, operating revenue (万元) and sometimes total assets (万元);
- EU, Commission Recommendation 2003/361/EC, used for EU/EEA countries and, by default, for every
  other country that is not CN; figures of linked and partner enterprises are added.

Money in another currency is converted with the indicative rates of `fx_rates.yaml`. Each
threshold test is a `Check`; the explanation, in English and Chinese, is rendered from the
deciding checks by `templates/explanation.<lang>.j2`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from models.core.data import load_data
from models.core.errors import InputRejected, Problem
from models.core.vocabulary import LANGUAGES, SME_CLASSES, SizeClass, SmeClass
from models.partners.explain import render_explanation

Metric = Literal["employees", "revenue", "assets"]
CN_SCHEME = "CN-2011-300"
EU_SCHEME = "EU-2003-361"
LANGS = LANGUAGES

# Converted money is rounded to the cent, the precision of the accounts it comes from.
_CENT = Decimal("0.01")
_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
_NEGATED = {"<": ">=", ">=": "<", "<=": ">"}
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --- the tables, validated at load -----------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Text(_Strict):
    en: str
    zh_cn: str = Field(alias="zh-CN")

    def get(self, lang: str) -> str:
        """Return the text in `lang` ("en" or "zh-CN")."""
        return self.zh_cn if lang == "zh-CN" else self.en


class _Source(_Strict):
    document: str = Field(min_length=1)
    title: str = Field(min_length=1)
    issued_by: str = Field(min_length=1)
    date: dt.date


class _Unit(_Strict):
    unit: str = Field(min_length=1)
    factor: Decimal = Field(gt=0)
    label: _Text
    unit_label: _Text


class _CnIndustry(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$")]
    name: _Text
    sme_if_any_below: dict[Metric, Decimal] = Field(min_length=1)
    medium_if_all_at_least: dict[Metric, Decimal]
    small_if_all_at_least: dict[Metric, Decimal]

    @model_validator(mode="after")
    def _nested(self) -> _CnIndustry:
        # small < medium < SME ceiling on every metric guarantees that a firm short of medium is
        # an SME and a firm at medium is small too, so the tests can run top-down.
        sme, medium, small = (
            self.sme_if_any_below,
            self.medium_if_all_at_least,
            self.small_if_all_at_least,
        )
        if set(medium) != set(sme) or set(small) != set(sme):
            raise ValueError(f"{self.code}: the three rules must use the same metrics")
        for metric in sme:
            if not 0 < small[metric] < medium[metric] < sme[metric]:
                raise ValueError(f"{self.code}: {metric} thresholds are not increasing")
        return self


class _CnTable(_Strict):
    scheme: Literal["CN-2011-300"]
    label: _Text
    source: _Source
    units: dict[Metric, _Unit]
    industries: list[_CnIndustry] = Field(min_length=1)

    @model_validator(mode="after")
    def _codes_unique(self) -> _CnTable:
        codes = [industry.code for industry in self.industries]
        if len(codes) != len(set(codes)):
            raise ValueError("industry codes must be unique")
        used = {metric for industry in self.industries for metric in industry.sme_if_any_below}
        if missing := used - set(self.units):
            raise ValueError(f"no unit for {sorted(missing)}")
        return self


class _EuCategory(_Strict):
    size_class: SmeClass
    staff_below: int = Field(gt=0)
    turnover_at_most: Decimal = Field(gt=0)
    balance_sheet_at_most: Decimal = Field(gt=0)


class _EuTable(_Strict):
    scheme: Literal["EU-2003-361"]
    label: _Text
    source: _Source
    currency: Literal["EUR"]
    categories: list[_EuCategory]
    countries: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]]

    @model_validator(mode="after")
    def _smallest_first(self) -> _EuTable:
        # The first category that holds is the class, so they must run micro, small, medium.
        if tuple(c.size_class for c in self.categories) != SME_CLASSES:
            raise ValueError(f"categories must be {', '.join(SME_CLASSES)} in that order")
        if "CN" in self.countries:
            raise ValueError("CN has its own scheme")
        return self


class _FxTable(_Strict):
    as_of: dt.date
    indicative: Literal[True]
    source: str = Field(min_length=1)
    per_eur: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")], Decimal]

    @model_validator(mode="after")
    def _anchored(self) -> _FxTable:
        if self.per_eur.get("EUR") != 1 or "CNY" not in self.per_eur:
            raise ValueError("per_eur needs EUR = 1 and a CNY rate")
        if any(rate <= 0 for rate in self.per_eur.values()):
            raise ValueError("rates must be positive")
        return self


@lru_cache(maxsize=1)
def _cn_table() -> _CnTable:
    return load_data("sizing_cn_2011.yaml", _CnTable)


@lru_cache(maxsize=1)
def _cn_industries() -> dict[str, _CnIndustry]:
    return {industry.code: industry for industry in _cn_table().industries}


@lru_cache(maxsize=1)
def _eu_table() -> _EuTable:
    return load_data("sizing_eu_2003.yaml", _EuTable)


@lru_cache(maxsize=1)
def _fx_table() -> _FxTable:
    return load_data("fx_rates.yaml", _FxTable)


EU_COUNTRIES: frozenset[str] = frozenset(_eu_table().countries)


# --- the public shapes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A partner's own figures and its group's; money in whole units of `currency`."""

    country: str
    industry: str
    employees: int
    revenue: Decimal | int
    currency: str
    total_assets: Decimal | int | None = None
    linked_employees: int = 0
    linked_revenue: Decimal | int = Decimal(0)
    linked_assets: Decimal | int = Decimal(0)
    partner_ent_employees: int = 0
    partner_ent_revenue: Decimal | int = Decimal(0)
    partner_ent_assets: Decimal | int = Decimal(0)


class Check(NamedTuple):
    """One threshold test, `value op threshold` in `unit`: what was compared, the outcome and its rule.

    Immutable like a frozen dataclass, but a tuple: a registry refresh makes millions, and a frozen
    dataclass made `size_of` twice as slow.
    """

    metric: str  # the criterion: employees, revenue, assets (CN); staff, turnover, balance_sheet (EU)
    value: Decimal  # the partner's figure in the threshold's unit (persons, 万元 CNY, EUR)
    op: str  # "<", "<=" or ">=": passed when `value op threshold`
    threshold: Decimal
    unit: str
    passed: bool
    amount: Decimal  # the figure as the partner gave it, before conversion (EU: group total)
    currency: str  # the currency of `amount`; "" for a count of persons
    rule: str  # where the threshold comes from: the document and its article or industry row
    size_class: SizeClass  # the class the threshold bounds

    @property
    def holds(self) -> str:
        """Return the comparison that is true: `op` when passed, its negation otherwise."""
        return self.op if self.passed else _NEGATED[self.op]

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "metric": self.metric,
            "value": str(self.value),
            "op": self.op,
            "threshold": str(self.threshold),
            "unit": self.unit,
            "passed": self.passed,
            "amount": str(self.amount),
            "currency": self.currency,
            "rule": self.rule,
            "size_class": self.size_class,
        }


@dataclass(frozen=True)
class SizeResult:
    """A size class, the scheme and thresholds that decided it, and a bilingual explanation."""

    size_class: SizeClass
    scheme: str
    scheme_label: str
    industry: str
    checks: tuple[Check, ...]
    figures_used: dict[str, str]
    explanation: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "size_class": self.size_class,
            "scheme": self.scheme,
            "scheme_label": self.scheme_label,
            "industry": self.industry,
            "checks": [check.to_dict() for check in self.checks],
            "figures_used": dict(self.figures_used),
            "explanation": dict(self.explanation),
        }


@lru_cache(maxsize=1)
def industry_codes() -> tuple[str, ...]:
    """Return the valid industry codes, in the order of the Chinese table."""
    return tuple(_cn_industries())


def industry_name(code: str, lang: str) -> str:
    """Return an industry's name in `lang` ("en" or "zh-CN")."""
    problems = _industry_problems(code) + _lang_problems(lang)
    if problems:
        raise InputRejected(problems, summary="unknown industry or language")
    return _cn_industries()[code].name.get(lang)


def scheme_for(country: str) -> str:
    """Return the scheme applied to a country: CN-2011-300 for CN, EU-2003-361 otherwise."""
    normalized = country.strip().upper()
    if not _COUNTRY_RE.match(normalized):
        raise InputRejected([Problem("country", _COUNTRY_MESSAGE)], summary="unknown country")
    return CN_SCHEME if normalized == "CN" else EU_SCHEME


def classify(figures: Figures) -> SizeResult:
    """Classify a partner under its country's scheme, explaining the deciding thresholds."""
    if problems := _problems(figures):
        raise InputRejected(problems, summary="size classification rejected")
    if scheme_for(figures.country) == CN_SCHEME:
        return _classify_cn(figures, _cn_decision(figures))
    return _classify_eu(figures, _eu_decision(figures))


@dataclass(frozen=True)
class Size:
    """A size class and the scheme that decided it: what the registry stores and filters on."""

    size_class: SizeClass
    scheme: str


def size_of(figures: Figures) -> Size:
    """Classify a partner as `classify` does, without composing the explanation (for whole registries)."""
    if problems := _problems(figures):
        raise InputRejected(problems, summary="size classification rejected")
    if scheme_for(figures.country) == CN_SCHEME:
        return Size(_cn_decision(figures).size, CN_SCHEME)
    return Size(_eu_decision(figures).size, EU_SCHEME)


@lru_cache(maxsize=1)
def currencies() -> tuple[str, ...]:
    """Return the currencies the sizing tables can convert (those with an indicative rate)."""
    return tuple(_fx_table().per_eur)


@lru_cache(maxsize=1)
def tables_version() -> str:
    """Return a fingerprint of the sizing tables and rates: it changes whenever one of them does."""
    digest = hashlib.sha256()
    for name in ("sizing_cn_2011.yaml", "sizing_eu_2003.yaml", "fx_rates.yaml"):
        digest.update(files("models.partners").joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


# --- input checks ----------------------------------------------------------------------------

_COUNTRY_MESSAGE = "must be an ISO 3166-1 alpha-2 code such as CN or DE"
_COUNT_FIELDS = ("employees", "linked_employees", "partner_ent_employees")
_MONEY_FIELDS = (
    "revenue",
    "total_assets",
    "linked_revenue",
    "linked_assets",
    "partner_ent_revenue",
    "partner_ent_assets",
)


def _industry_problems(code: object) -> list[Problem]:
    if isinstance(code, str) and code in _cn_industries():
        return []
    return [Problem("industry", f"unknown industry {code!r}; use one of {industry_codes()}")]


def _lang_problems(lang: object) -> list[Problem]:
    return [] if lang in LANGS else [Problem("lang", f"unknown language {lang!r}; use {LANGS}")]


def _problems(figures: Figures) -> list[Problem]:
    problems = _industry_problems(figures.industry)
    country = figures.country.strip().upper() if isinstance(figures.country, str) else ""
    if not _COUNTRY_RE.match(country):
        problems.append(Problem("country", _COUNTRY_MESSAGE))
    if _currency(figures) not in _fx_table().per_eur:
        known = tuple(_fx_table().per_eur)
        problems.append(Problem("currency", f"unknown currency {figures.currency!r}; use {known}"))
    problems += _number_problems(figures)
    if not problems and scheme_for(figures.country) == CN_SCHEME:
        problems += _cn_assets_problems(figures)
    return problems


def _number_problems(figures: Figures) -> list[Problem]:
    problems = []
    for name in _COUNT_FIELDS:
        value = getattr(figures, name)
        # bool is an int subclass; True employees is a bug upstream, not a headcount of one.
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(name, "must be a whole number of persons"))
        elif value < 0:
            problems.append(Problem(name, f"must not be negative (got {value})"))
    for name in _MONEY_FIELDS:
        value = getattr(figures, name)
        if value is None and name == "total_assets":
            continue
        amount = _to_decimal(value)
        if amount is None:
            problems.append(Problem(name, "must be a finite amount"))
        elif amount < 0:
            problems.append(Problem(name, f"must not be negative (got {value})"))
    return problems


def needs_total_assets(country: str, industry: str) -> bool:
    """Return whether a partner's class depends on its total assets (some Chinese industries)."""
    found = _cn_industries().get(industry)
    return scheme_for(country) == CN_SCHEME and found is not None and "assets" in found.sme_if_any_below


def _cn_assets_problems(figures: Figures) -> list[Problem]:
    if figures.total_assets is None and needs_total_assets(figures.country, figures.industry):
        message = f"required for industry {figures.industry!r} under {CN_SCHEME}"
        return [Problem("total_assets", message)]
    return []


def _to_decimal(value: object) -> Decimal | None:
    if type(value) is int:  # the common case, exact as it is
        return Decimal(value)
    if isinstance(value, bool):
        return None
    try:
        # str() first so a float becomes its short repr, not its binary expansion.
        amount = Decimal(str(value)) if isinstance(value, int | float | str) else value
    except InvalidOperation:
        return None
    return amount if isinstance(amount, Decimal) and amount.is_finite() else None


def _currency(figures: Figures) -> str:
    return figures.currency.strip().upper() if isinstance(figures.currency, str) else ""


def _money(value: object) -> Decimal:
    amount = _to_decimal(value)
    if amount is None:  # _problems rejects these first; raising keeps the type honest under -O
        raise InputRejected([Problem("", f"not an amount: {value!r}")])
    return amount


# --- money and checks ------------------------------------------------------------------------


def _rate(source: str, target: str) -> Decimal:
    per_eur = _fx_table().per_eur
    return per_eur[target] / per_eur[source]


def _convert(amount: Decimal, source: str, target: str) -> Decimal:
    if source == target:
        return amount
    per_eur = _fx_table().per_eur
    # Multiply before dividing so an amount quoted at a reference rate converts back exactly.
    return (amount * per_eur[target] / per_eur[source]).quantize(_CENT)


def _fx(source: str, target: str) -> dict[str, str] | None:
    """Return the rate note's figures when money was converted, else None."""
    if source == target:
        return None
    rate = format(_rate(source, target), ".6g")
    return {"source": source, "target": target, "rate": rate, "as_of": str(_fx_table().as_of)}


def _check(
    metric: str,
    value: Decimal,
    op: str,
    threshold: Decimal,
    unit: str,
    *,
    amount: Decimal,
    currency: str,
    rule: str,
    size_class: SizeClass,
) -> Check:
    passed = _OPS[op](value, threshold)
    return Check(metric, value, op, threshold, unit, passed, amount, currency, rule, size_class)


# --- China -----------------------------------------------------------------------------------

# The three rules of an industry's row: (YAML key, comparison, the class its thresholds bound).
_CN_RULES: tuple[tuple[str, str, SizeClass], ...] = (
    ("sme_if_any_below", "<", "medium"),
    ("medium_if_all_at_least", ">=", "medium"),
    ("small_if_all_at_least", ">=", "small"),
)


@dataclass(frozen=True)
class _CnDecision:
    size: SizeClass
    decided: list[Check]
    against: list[Check]
    values: dict[Metric, Decimal]


def _cn_decision(figures: Figures) -> _CnDecision:
    table, industry = _cn_table(), _cn_industries()[figures.industry]
    values, amounts, currency = _cn_values(figures), _cn_amounts(figures), _currency(figures)

    def run(key: str, op: str, size_class: SizeClass) -> list[Check]:
        rule = _cn_rule(industry.code, key)
        return [
            _check(
                m,
                values[m],
                op,
                t,
                table.units[m].unit,
                amount=amounts[m],
                currency="" if m == "employees" else currency,
                rule=rule,
                size_class=size_class,
            )
            for m, t in getattr(industry, key).items()
        ]

    sme, medium, small = (run(*rule) for rule in _CN_RULES)
    return _CnDecision(*_cn_decide(sme, medium, small), values)


@lru_cache(maxsize=64)
def _cn_rule(code: str, key: str) -> str:
    """Return a rule's source: the document, the industry's row and the rule in it."""
    return f"{_cn_table().source.document}, {_cn_industries()[code].name.zh_cn}, {key}"


def _classify_cn(figures: Figures, decision: _CnDecision) -> SizeResult:
    table, industry = _cn_table(), _cn_industries()[figures.industry]
    context = {
        "scheme": "CN",
        "size": decision.size,
        "document": table.source.document,
        "industry": industry.name.zh_cn,
        "units": table.units,
        "decided": decision.decided,
        "against": decision.against,
        "fx": _fx(_currency(figures), "CNY"),
        "group": _has_group(figures),
    }
    return SizeResult(
        size_class=decision.size,
        scheme=CN_SCHEME,
        scheme_label=table.label.en,
        industry=industry.code,
        checks=tuple(decision.decided + decision.against),
        figures_used=_cn_figures_used(figures, decision.values),
        explanation=render_explanation(context),
    )


def _cn_values(figures: Figures) -> dict[Metric, Decimal]:
    """Return the entity's own figures in the table's units (persons, 万元 CNY)."""
    units, currency = _cn_table().units, _currency(figures)
    values: dict[Metric, Decimal] = {
        "employees": Decimal(figures.employees),
        "revenue": _convert(_money(figures.revenue), currency, "CNY") / units["revenue"].factor,
    }
    if figures.total_assets is not None:
        assets = _convert(_money(figures.total_assets), currency, "CNY")
        values["assets"] = assets / units["assets"].factor
    return values


def _cn_amounts(figures: Figures) -> dict[Metric, Decimal]:
    """Return the entity's own figures as given (persons, whole units of its currency)."""
    amounts: dict[Metric, Decimal] = {
        "employees": Decimal(figures.employees),
        "revenue": _money(figures.revenue),
    }
    if figures.total_assets is not None:
        amounts["assets"] = _money(figures.total_assets)
    return amounts


def _cn_decide(
    sme: list[Check], medium: list[Check], small: list[Check]
) -> tuple[SizeClass, list[Check], list[Check]]:
    """Return the class, the checks that put it there and those that kept it from the next."""
    if not any(c.passed for c in sme):
        return "large", [], sme
    if all(c.passed for c in medium):
        return "medium", [c for c in sme if c.passed] + medium, []
    if all(c.passed for c in small):
        return "small", small, [c for c in medium if not c.passed]
    return "micro", [], [c for c in small if not c.passed]


def _cn_figures_used(figures: Figures, values: dict[Metric, Decimal]) -> dict[str, str]:
    currency = _currency(figures)
    used = {
        "country": "CN",
        "currency": currency,
        "employees": str(figures.employees),
        "revenue": str(figures.revenue),
        "revenue_wan_cny": str(values["revenue"]),
    }
    if "assets" in values:
        used["total_assets"] = str(figures.total_assets)
        used["total_assets_wan_cny"] = str(values["assets"])
    if currency != "CNY":
        used["fx_rate"] = f"1 {currency} = {_rate(currency, 'CNY')} CNY"
        used["fx_as_of"] = str(_fx_table().as_of)
    return used


def _has_group(figures: Figures) -> bool:
    return any(
        _money(getattr(figures, name)) != 0
        for name in ("linked_employees", "partner_ent_employees") + _MONEY_FIELDS[2:]
    )


# --- EU --------------------------------------------------------------------------------------

# Annex, Article 2 of the Recommendation: one paragraph for each category's ceilings.
_EU_PARAGRAPH = {"medium": "2(1)", "small": "2(2)", "micro": "2(3)"}


@dataclass(frozen=True)
class _EuTotals:
    staff: int
    turnover: Decimal  # EUR
    balance_sheet: Decimal | None  # EUR; None when the partner gave no balance sheet total
    own_turnover: Decimal  # the same sums in the partner's currency, before conversion
    own_balance_sheet: Decimal | None


@dataclass(frozen=True)
class _EuTest:
    """One category's checks: staff, turnover and (when known) balance sheet."""

    size_class: SizeClass
    staff: Check
    turnover: Check
    balance_sheet: Check | None

    @property
    def financial_ok(self) -> bool:
        return self.turnover.passed or bool(self.balance_sheet and self.balance_sheet.passed)

    @property
    def holds(self) -> bool:
        return self.staff.passed and self.financial_ok

    def deciding(self) -> list[Check]:
        """Return the checks that made the category hold."""
        if self.turnover.passed or self.balance_sheet is None:
            return [self.staff, self.turnover]
        return [self.staff, self.balance_sheet, self.turnover]

    def failing(self) -> list[Check]:
        """Return the checks that kept the category from holding."""
        failed = [] if self.staff.passed else [self.staff]
        if not self.financial_ok:
            failed += [c for c in (self.turnover, self.balance_sheet) if c is not None]
        return failed


@dataclass(frozen=True)
class _EuDecision:
    totals: _EuTotals
    tests: list[_EuTest]
    winner: int  # index of the first category that holds; len(tests) for a large enterprise

    @property
    def size(self) -> SizeClass:
        return self.tests[self.winner].size_class if self.winner < len(self.tests) else "large"


def _eu_decision(figures: Figures) -> _EuDecision:
    totals = _eu_totals(figures)
    currency = _currency(figures)
    tests = [_eu_test(category, totals, currency) for category in _eu_table().categories]
    winner = next((i for i, test in enumerate(tests) if test.holds), len(tests))
    return _EuDecision(totals, tests, winner)


def _classify_eu(figures: Figures, decision: _EuDecision) -> SizeResult:
    table, tests, winner = _eu_table(), decision.tests, decision.winner
    decided = tests[winner].deciding() if winner < len(tests) else []
    against = tests[winner - 1].failing() if winner > 0 else []
    country = figures.country.strip().upper()
    context = {
        "scheme": "EU",
        "size": decision.size,
        "label": table.label,
        "decided": decided,  # staff, the financial test that held, then a ceiling it overrode
        "against": against,
        "below": tests[winner - 1].size_class if winner > 0 else "",
        "country": country,
        "outside_eu": country not in EU_COUNTRIES,
        "group": _eu_group(figures),
        "no_balance_sheet": figures.total_assets is None,
        "fx": _fx(_currency(figures), "EUR"),
    }
    return SizeResult(
        size_class=decision.size,
        scheme=EU_SCHEME,
        scheme_label=table.label.en,
        industry=figures.industry,
        checks=tuple(decided + against),
        figures_used=_eu_figures_used(figures, decision.totals),
        explanation=render_explanation(context),
    )


def _eu_totals(figures: Figures) -> _EuTotals:
    """Add linked enterprises in full and partner enterprises as entered (already pro rata)."""
    currency = _currency(figures)
    staff = figures.employees + figures.linked_employees + figures.partner_ent_employees
    turnover = sum(
        (_money(v) for v in (figures.revenue, figures.linked_revenue, figures.partner_ent_revenue)),
        Decimal(0),
    )
    own_balance: Decimal | None = None
    balance: Decimal | None = None
    if figures.total_assets is not None:
        own = (figures.total_assets, figures.linked_assets, figures.partner_ent_assets)
        own_balance = sum((_money(v) for v in own), Decimal(0))
        balance = _convert(own_balance, currency, "EUR")
    return _EuTotals(staff, _convert(turnover, currency, "EUR"), balance, turnover, own_balance)


@lru_cache(maxsize=4)
def _eu_rule(size_class: SizeClass) -> str:
    """Return a category's source: the Recommendation's article that sets its ceilings."""
    return f"{_eu_table().source.document}, Annex Art. {_EU_PARAGRAPH[size_class]}"


def _eu_test(category: _EuCategory, totals: _EuTotals, currency: str) -> _EuTest:
    size_class = category.size_class
    rule = _eu_rule(size_class)

    def money(metric: str, value: Decimal, own: Decimal, ceiling: Decimal) -> Check:
        return _check(
            metric,
            value,
            "<=",
            ceiling,
            "EUR",
            amount=own,
            currency=currency,
            rule=rule,
            size_class=size_class,
        )

    balance = None
    if totals.balance_sheet is not None and totals.own_balance_sheet is not None:
        balance = money(
            "balance_sheet", totals.balance_sheet, totals.own_balance_sheet, category.balance_sheet_at_most
        )
    staff = Decimal(totals.staff)
    return _EuTest(
        size_class=size_class,
        staff=_check(
            "staff",
            staff,
            "<",
            Decimal(category.staff_below),
            "persons",
            amount=staff,
            currency="",
            rule=rule,
            size_class=size_class,
        ),
        turnover=money("turnover", totals.turnover, totals.own_turnover, category.turnover_at_most),
        balance_sheet=balance,
    )


def _eu_figures_used(figures: Figures, totals: _EuTotals) -> dict[str, str]:
    currency = _currency(figures)
    used = {
        "country": figures.country.strip().upper(),
        "currency": currency,
        "employees": str(figures.employees),
        "linked_employees": str(figures.linked_employees),
        "partner_ent_employees": str(figures.partner_ent_employees),
        "staff_total": str(totals.staff),
        "turnover_eur": str(totals.turnover),
        "balance_sheet_eur": "" if totals.balance_sheet is None else str(totals.balance_sheet),
    }
    if currency != "EUR":
        used["fx_rate"] = f"1 {currency} = {_rate(currency, 'EUR')} EUR"
        used["fx_as_of"] = str(_fx_table().as_of)
    return used


def _eu_group(figures: Figures) -> dict[str, int] | None:
    """Return the staff of the partner and its group for the note, or None without a group."""
    if not _has_group(figures):
        return None
    own, linked = figures.employees, figures.linked_employees
    return {"own": own, "linked": linked, "partner": figures.partner_ent_employees}
