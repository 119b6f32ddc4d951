"""Classify a partner as a micro, small, medium or large enterprise, and say why.

Two schemes, both kept as data in `models/data/` and validated when first loaded:

- China, 中小企业划型标准规定 (工信部联企业〔2011〕300号), thresholds by industry on the legal
  entity's employees, operating revenue (万元) and sometimes total assets (万元);
- EU, Commission Recommendation 2003/361/EC, used for EU/EEA countries and, by default, for every
  other country that is not CN; figures of linked and partner enterprises are added.

Money in another currency is converted with the indicative rates of `fx_rates.yaml`.
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
from models.core.vocabulary import LANGUAGES

SizeClass = Literal["micro", "small", "medium", "large"]
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
_ZH_OPS = {"<": "<", ">=": "≥", "<=": "≤", ">": ">"}
_CLASS_NAMES = {
    "micro": ("Micro", "微型企业"),
    "small": ("Small", "小型企业"),
    "medium": ("Medium", "中型企业"),
    "large": ("Large", "大型企业"),
}
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_METRIC: dict[str, Metric] = {"employees": "employees", "revenue": "revenue", "assets": "assets"}


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
    size_class: Literal["micro", "small", "medium"]
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
        if [c.size_class for c in self.categories] != ["micro", "small", "medium"]:
            raise ValueError("categories must be micro, small, medium in that order")
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
    """One threshold test: `value op threshold`, in `unit` (a tuple: a registry makes millions)."""

    metric: str
    value: Decimal
    op: str
    threshold: Decimal
    unit: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "metric": self.metric,
            "value": str(self.value),
            "op": self.op,
            "threshold": str(self.threshold),
            "unit": self.unit,
            "passed": self.passed,
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


# --- money and text --------------------------------------------------------------------------


def _rate(source: str, target: str) -> Decimal:
    per_eur = _fx_table().per_eur
    return per_eur[target] / per_eur[source]


def _convert(amount: Decimal, source: str, target: str) -> Decimal:
    if source == target:
        return amount
    per_eur = _fx_table().per_eur
    # Multiply before dividing so an amount quoted at a reference rate converts back exactly.
    return (amount * per_eur[target] / per_eur[source]).quantize(_CENT)


def _num(value: Decimal | int) -> str:
    """Format a number with thousands separators and no trailing zeros."""
    return format(Decimal(value).normalize(), ",f")


def _fx_note(source: str, target: str) -> dict[str, str]:
    fx = _fx_table()
    rate = format(_rate(source, target), ".6g")
    return {
        "en": f"Converted at 1 {source} = {rate} {target} (indicative rate as of {fx.as_of}).",
        "zh-CN": f"按1 {source} = {rate} {target}折算（参考汇率，截至{fx.as_of}）。",
    }


def _say(check: Check, subject: dict[str, str], limit: dict[str, str], lang: str) -> str:
    op = check.op if check.passed else _NEGATED[check.op]
    return f"{subject[lang]} {_ZH_OPS[op] if lang == 'zh-CN' else op} {limit[lang]}"


@dataclass(frozen=True)
class _Wording:
    """How to name each metric's value and threshold in both languages."""

    subjects: dict[str, dict[str, str]]
    limit: Callable[[Check], dict[str, str]]

    def facts(self, checks: list[Check], lang: str) -> str:
        joiner = "，且" if lang == "zh-CN" else " and "
        return joiner.join(_say(c, self.subjects[c.metric], self.limit(c), lang) for c in checks)


def _explain(
    head: dict[str, str],
    body: dict[str, str],
    notes: list[dict[str, str]],
) -> dict[str, str]:
    # Chinese sentences run on without spaces; English ones are separated by one.
    sep = {"en": " ", "zh-CN": ""}
    sentences = {lang: [head[lang] + body[lang]] + [note[lang] for note in notes] for lang in LANGS}
    return {lang: sep[lang].join(sentences[lang]) for lang in LANGS}


# --- China -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CnDecision:
    size: SizeClass
    decided: list[Check]
    against: list[Check]
    values: dict[Metric, Decimal]


def _cn_decision(figures: Figures) -> _CnDecision:
    table, industry = _cn_table(), _cn_industries()[figures.industry]
    values = _cn_values(figures)

    def run(rule: dict[Metric, Decimal], op: str) -> list[Check]:
        unit = table.units
        return [_check(m, values[m], op, t, unit[m].unit) for m, t in rule.items()]

    sme = run(industry.sme_if_any_below, "<")
    medium = run(industry.medium_if_all_at_least, ">=")
    small = run(industry.small_if_all_at_least, ">=")
    return _CnDecision(*_cn_decide(sme, medium, small), values)


def _classify_cn(figures: Figures, decision: _CnDecision) -> SizeResult:
    table, industry = _cn_table(), _cn_industries()[figures.industry]
    size, decided, against, values = decision.size, decision.decided, decision.against, decision.values
    wording = _cn_wording(figures, values)
    body = _cn_body(size, decided, against, wording)
    doc, name_zh = table.source.document, industry.name.zh_cn
    head = {
        "en": f"{_CLASS_NAMES[size][0]} (China, {doc}, industry {name_zh}): ",
        "zh-CN": f"{_CLASS_NAMES[size][1]}（中国，{doc}，行业：{name_zh}）：",
    }
    return SizeResult(
        size_class=size,
        scheme=CN_SCHEME,
        scheme_label=table.label.en,
        industry=industry.code,
        checks=tuple(decided + against),
        figures_used=_cn_figures_used(figures, values),
        explanation=_explain(head, body, _cn_notes(figures)),
    )


def _check(metric: str, value: Decimal, op: str, threshold: Decimal, unit: str) -> Check:
    passed = _OPS[op](value, threshold)
    return Check(metric, value, op, threshold, unit, passed)


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


def _cn_wording(figures: Figures, values: dict[Metric, Decimal]) -> _Wording:
    units, currency = _cn_table().units, _currency(figures)
    subjects = {"employees": _cn_employees(figures.employees)}
    amounts = {"revenue": figures.revenue, "assets": figures.total_assets}
    for metric in values.keys() - {"employees"}:
        label = units[metric].label
        shown = _cn_amount(_money(amounts[metric]), currency, values[metric])
        subjects[metric] = {
            "en": f"{label.en} {shown['en']}",
            "zh-CN": f"{label.zh_cn}{shown['zh-CN']}",
        }

    def limit(check: Check) -> dict[str, str]:
        unit = units[_METRIC[check.metric]].unit_label
        return {lang: f"{_num(check.threshold)}{unit.get(lang)}" for lang in LANGS}

    return _Wording(subjects, limit)


def _cn_employees(count: int) -> dict[str, str]:
    return {"en": f"{_num(count)} employees", "zh-CN": f"从业人员{_num(count)}人"}


def _cn_amount(amount: Decimal, currency: str, wan: Decimal) -> dict[str, str]:
    if currency == "CNY":
        return {"en": f"{_num(amount)} CNY ({_num(wan)}万)", "zh-CN": f"{_num(wan)}万元"}
    cny = _num(wan * 10000)
    return {
        "en": f"{_num(amount)} {currency} ({cny} CNY, {_num(wan)}万)",
        "zh-CN": f"{_num(amount)} {currency}（折合{cny}元，即{_num(wan)}万元）",
    }


def _cn_body(
    size: SizeClass, decided: list[Check], against: list[Check], wording: _Wording
) -> dict[str, str]:
    def facts(checks: list[Check], lang: str) -> str:
        return wording.facts(checks, lang)

    if size == "large":
        return {
            "en": f"{facts(against, 'en')}, so not an SME.",
            "zh-CN": f"{facts(against, 'zh-CN')}，不属于中小微型企业。",
        }
    if size == "medium":
        sme = [c for c in decided if c.op == "<"]
        rest = [c for c in decided if c.op != "<"]
        return {
            "en": f"{facts(sme, 'en')} so an SME, and {facts(rest, 'en')}.",
            "zh-CN": f"{facts(sme, 'zh-CN')}，属于中小微型企业；且{facts(rest, 'zh-CN')}。",
        }
    if size == "small":
        return {
            "en": f"{facts(decided, 'en')}, but {facts(against, 'en')} so not medium.",
            "zh-CN": f"{facts(decided, 'zh-CN')}；但{facts(against, 'zh-CN')}，不属于中型企业。",
        }
    return {
        "en": f"{facts(against, 'en')} so not small.",
        "zh-CN": f"{facts(against, 'zh-CN')}，不属于小型企业。",
    }


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


def _cn_notes(figures: Figures) -> list[dict[str, str]]:
    notes = []
    currency = _currency(figures)
    if currency != "CNY":
        notes.append(_fx_note(currency, "CNY"))
    if _has_group(figures):
        notes.append(
            {
                "en": "Linked and partner enterprise figures were not added: the Chinese scheme "
                "classifies the legal entity.",
                "zh-CN": "未计入关联企业和伙伴企业数据：中国标准按单个法人企业划型。",
            }
        )
    return notes


# --- EU --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EuTotals:
    staff: int
    turnover: Decimal  # EUR
    balance_sheet: Decimal | None  # EUR; None when the partner gave no balance sheet total


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
    tests = [_eu_test(category, totals) for category in _eu_table().categories]
    winner = next((i for i, test in enumerate(tests) if test.holds), len(tests))
    return _EuDecision(totals, tests, winner)


def _classify_eu(figures: Figures, decision: _EuDecision) -> SizeResult:
    table, totals, tests, winner = _eu_table(), decision.totals, decision.tests, decision.winner
    size = decision.size
    decided = tests[winner].deciding() if winner < len(tests) else []
    against = tests[winner - 1].failing() if winner > 0 else []
    head = {
        "en": f"{_CLASS_NAMES[size][0]} ({table.label.en}): ",
        "zh-CN": f"{_CLASS_NAMES[size][1]}（{table.label.zh_cn}）：",
    }
    below = tests[winner - 1].size_class if winner > 0 else ""
    body = _eu_body(decided, against, below, _eu_wording(figures, totals))
    return SizeResult(
        size_class=size,
        scheme=EU_SCHEME,
        scheme_label=table.label.en,
        industry=figures.industry,
        checks=tuple(decided + against),
        figures_used=_eu_figures_used(figures, totals),
        explanation=_explain(head, body, _eu_notes(figures)),
    )


def _eu_totals(figures: Figures) -> _EuTotals:
    """Add linked enterprises in full and partner enterprises as entered (already pro rata)."""
    currency = _currency(figures)
    staff = figures.employees + figures.linked_employees + figures.partner_ent_employees
    turnover = sum(
        (_money(v) for v in (figures.revenue, figures.linked_revenue, figures.partner_ent_revenue)),
        Decimal(0),
    )
    balance: Decimal | None = None
    if figures.total_assets is not None:
        own = (figures.total_assets, figures.linked_assets, figures.partner_ent_assets)
        balance = _convert(sum((_money(v) for v in own), Decimal(0)), currency, "EUR")
    return _EuTotals(staff, _convert(turnover, currency, "EUR"), balance)


def _eu_test(category: _EuCategory, totals: _EuTotals) -> _EuTest:
    balance = None
    if totals.balance_sheet is not None:
        balance = _check(
            "balance_sheet",
            totals.balance_sheet,
            "<=",
            category.balance_sheet_at_most,
            "EUR",
        )
    return _EuTest(
        size_class=category.size_class,
        staff=_check("staff", Decimal(totals.staff), "<", Decimal(category.staff_below), "persons"),
        turnover=_check("turnover", totals.turnover, "<=", category.turnover_at_most, "EUR"),
        balance_sheet=balance,
    )


def _eu_wording(figures: Figures, totals: _EuTotals) -> _Wording:
    currency = _currency(figures)
    own_turnover = sum(
        (_money(v) for v in (figures.revenue, figures.linked_revenue, figures.partner_ent_revenue)),
        Decimal(0),
    )
    subjects = {
        "staff": {"en": f"{_num(totals.staff)} staff", "zh-CN": f"员工人数{_num(totals.staff)}人"},
        "turnover": _eu_amount("turnover", "营业额", own_turnover, currency, totals.turnover),
    }
    if totals.balance_sheet is not None:
        assets = (figures.total_assets, figures.linked_assets, figures.partner_ent_assets)
        own = sum((_money(v) for v in assets), Decimal(0))
        subjects["balance_sheet"] = _eu_amount(
            "balance sheet total", "资产负债表总额", own, currency, totals.balance_sheet
        )

    def limit(check: Check) -> dict[str, str]:
        if check.metric == "staff":
            return {"en": _num(check.threshold), "zh-CN": f"{_num(check.threshold)}人"}
        return {"en": f"{_num(check.threshold)} EUR", "zh-CN": f"{_num(check.threshold)}欧元"}

    return _Wording(subjects, limit)


def _eu_amount(
    label_en: str,
    label_zh: str,
    amount: Decimal,
    currency: str,
    eur: Decimal,
) -> dict[str, str]:
    if currency == "EUR":
        return {"en": f"{label_en} {_num(amount)} EUR", "zh-CN": f"{label_zh}{_num(amount)}欧元"}
    return {
        "en": f"{label_en} {_num(amount)} {currency} ({_num(eur)} EUR)",
        "zh-CN": f"{label_zh}{_num(amount)} {currency}（折合{_num(eur)}欧元）",
    }


def _eu_body(
    decided: list[Check],
    against: list[Check],
    below: str,
    wording: _Wording,
) -> dict[str, str]:
    body: dict[str, str] = {}
    for lang in LANGS:
        parts = []
        if decided:
            parts.append(_eu_holds(decided, wording, lang))
        if against:
            parts.append(_eu_not(against, below, wording, lang, after=bool(decided)))
        body[lang] = "".join(parts) + ("。" if lang == "zh-CN" else ".")
    return body


def _eu_holds(decided: list[Check], wording: _Wording, lang: str) -> str:
    staff, financial, *overridden = decided
    text = wording.facts([staff, financial], lang)
    if overridden:  # the balance sheet total saved a firm whose turnover is over the ceiling
        over = wording.facts(overridden, lang)
        text += f"（尽管{over}）" if lang == "zh-CN" else f" (though {over})"
    return text


def _eu_not(against: list[Check], below: str, wording: _Wording, lang: str, *, after: bool) -> str:
    facts = wording.facts(against, lang)
    if lang == "zh-CN":
        return f"{'；但' if after else ''}{facts}，不属于{_CLASS_NAMES[below][1]}"
    return f"{', but ' if after else ''}{facts} so not {below}"


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


def _eu_notes(figures: Figures) -> list[dict[str, str]]:
    notes = []
    country, currency = figures.country.strip().upper(), _currency(figures)
    if country not in EU_COUNTRIES:
        notes.append(
            {
                "en": f"Recommendation 2003/361/EC applied by default: country {country} has no "
                "scheme of its own here.",
                "zh-CN": f"{country}未设专门划型标准，默认适用欧盟2003/361/EC建议。",
            }
        )
    if _has_group(figures):
        notes.append(_eu_group_note(figures))
    if figures.total_assets is None:
        notes.append(
            {
                "en": "No balance sheet total given: turnover alone decides the financial test.",
                "zh-CN": "未提供资产负债表总额，财务条件仅按营业额判断。",
            }
        )
    if currency != "EUR":
        notes.append(_fx_note(currency, "EUR"))
    return notes


def _eu_group_note(figures: Figures) -> dict[str, str]:
    own, linked, partner = (
        figures.employees,
        figures.linked_employees,
        figures.partner_ent_employees,
    )
    return {
        "en": f"Includes linked enterprises in full and partner enterprises pro rata as entered "
        f"(staff: own {own}, linked {linked}, partner {partner}).",
        "zh-CN": f"已合并关联企业的全部数据和伙伴企业按持股比例填报的数据（员工：本企业{own}人，"
        f"关联企业{linked}人，伙伴企业{partner}人）。",
    }
