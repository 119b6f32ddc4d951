"""The payment laws as data (`payment_law.yaml`): terms, clock events, interest, fees."""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from models.core.data import load_data, parse_content
from models.core.validation import Text, currency_code
from models.core.vocabulary import LANGUAGES, BuyerType, SizeClass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """One rule of a law: the article it comes from and what it requires, in both languages."""

    article: str = Field(min_length=1, max_length=40)
    text: Text


class BuyerRule(_Strict):
    """The payment term for one type of buyer: the default, any cap, and whether more needs a reason."""

    default_days: PositiveInt
    cap_days: PositiveInt | None
    justify_above_default: bool
    rule: Rule

    @model_validator(mode="after")
    def _cap_above_default(self) -> BuyerRule:
        if self.cap_days is not None and self.cap_days < self.default_days:
            raise ValueError("cap_days cannot be below default_days")
        return self


class DeliveryStart(Rule):
    """Which event starts the clock when payment is due on delivery."""

    # invoice_or_delivery: the later of the invoice and the delivery (Directive 2011/7/EU Art. 3(3)(b)).
    starts_at: Literal["delivery", "invoice_or_delivery"]


class AcceptanceRule(Rule):
    """Acceptance agreed: the clock starts at acceptance, at the latest when the agreed period ends."""

    max_days: PositiveInt | None  # an agreed acceptance period above this needs a reason


class Clock(_Strict):
    """The events that start the payment clock under one law."""

    delivery: DeliveryStart
    acceptance: AcceptanceRule
    settlement: Rule | None  # None: the law has no periodic-settlement rule


class Confirmation(Rule):
    """How long the buyer has to answer a partner's request to confirm the receivable."""

    days: PositiveInt


class Interest(Rule):
    """Late-payment interest: an agreed rate with a floor or a daily rate, or a reference rate plus points."""

    method: Literal["agreed_or_daily", "reference_plus"]
    daily_rate: Decimal | None = Field(default=None, gt=0, lt=1)
    floor_rates: str | None = None
    reference_rates: str | None = None
    points: Decimal | None = Field(default=None, ge=0, le=100)
    day_count: Literal[360, 365]

    @model_validator(mode="after")
    def _fields_of_method(self) -> Interest:
        wanted = {
            "agreed_or_daily": {"daily_rate", "floor_rates"},
            "reference_plus": {"reference_rates", "points"},
        }[self.method]
        given = {
            n
            for n in ("daily_rate", "floor_rates", "reference_rates", "points")
            if getattr(self, n) is not None
        }
        if given != wanted:
            raise ValueError(f"method {self.method} takes exactly {', '.join(sorted(wanted))}")
        return self


class Fee(Rule):
    """A fixed recovery fee per late invoice."""

    currency: str = Field(min_length=3, max_length=3)
    minor: int = Field(ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _iso_currency(self) -> Fee:
        currency_code(self.currency)
        return self


class Jurisdiction(_Strict):
    """One payment law: whom it protects, the terms per buyer type, the clock, interest and fees."""

    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=40)
    name: Text
    source: Text
    in_force_from: date
    countries: tuple[str, ...] = Field(min_length=1)
    size_classes: tuple[SizeClass, ...] = Field(min_length=1)
    declaration: Rule | None
    buyers: dict[BuyerType, BuyerRule]
    clock: Clock
    non_cash: Rule | None
    undisputed: Rule | None
    confirmation: Confirmation | None
    interest: Interest
    fixed_fee: Fee | None
    disclosure: Rule | None
    no_retaliation: Rule | None

    @model_validator(mode="after")
    def _every_buyer_type(self) -> Jurisdiction:
        missing = set(BuyerType) - set(self.buyers)
        if missing:
            raise ValueError(f"buyers lacks {', '.join(sorted(missing))}")
        bad = [c for c in self.countries if len(c) != 2 or not c.isalpha() or not c.isupper()]
        if bad:
            raise ValueError(f"countries must be ISO 3166 alpha-2 codes in capitals, not {bad}")
        return self

    def buyer(self, buyer_type: str) -> BuyerRule:
        """Return the rule for a buyer type."""
        return self.buyers[BuyerType(buyer_type)]


class RatePoint(_Strict):
    """A rate in force from a date."""

    from_: date = Field(alias="from")
    percent: Decimal = Field(ge=0, le=100)


class RateTable(_Strict):
    """A published rate over time (e.g. the one-year LPR, the ECB main refinancing rate)."""

    name: Text
    half_yearly: bool
    values: tuple[RatePoint, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> RateTable:
        days = [v.from_ for v in self.values]
        if days != sorted(set(days)):
            raise ValueError("values must be in date order, one per date")
        if self.half_yearly and any((d.month, d.day) not in ((1, 1), (7, 1)) for d in days):
            raise ValueError("a half-yearly rate starts on 1 January or 1 July")
        return self

    def at(self, day: date) -> tuple[Decimal, bool]:
        """Return the rate in force on a day, and whether it was known (else the nearest is used)."""
        starts = [v.from_ for v in self.values]
        index = bisect_right(starts, day) - 1
        if index < 0:
            return self.values[0].percent, False
        known = not self.half_yearly or day < _next_half_year(self.values[index].from_)
        return self.values[index].percent, known


def _next_half_year(day: date) -> date:
    return date(day.year, 7, 1) if day.month < 7 else date(day.year + 1, 1, 1)


class Citation(_Strict):
    """How readers of one language cite an article, a paragraph and a point (`{n}` is the number)."""

    article: str = Field(pattern=r"\{n\}")
    paragraph: str = Field(pattern=r"\{n\}")
    point: str = Field(pattern=r"\{n\}")
    separator: str = Field(min_length=1)


class PaymentLaw(_Strict):
    """The whole table: jurisdictions, the rate tables they name, and how each language cites articles."""

    version: Literal[2]
    jurisdictions: tuple[Jurisdiction, ...] = Field(min_length=1)
    citations: dict[str, Citation] = Field(default_factory=dict)  # by language
    rates: dict[str, RateTable]

    @model_validator(mode="after")
    def _consistent(self) -> PaymentLaw:
        if unknown := set(self.citations) - set(LANGUAGES):
            raise ValueError(f"citations for unknown language(s): {', '.join(sorted(unknown))}")
        seen: dict[str, str] = {}
        for j in self.jurisdictions:
            for country in j.countries:
                if country in seen:
                    raise ValueError(f"country {country} is in both {seen[country]} and {j.id}")
                seen[country] = j.id
            for table in (j.interest.floor_rates, j.interest.reference_rates):
                if table is not None and table not in self.rates:
                    raise ValueError(f"{j.id}: interest names unknown rate table {table!r}")
        return self


def parse_law(text: str, *, source: str = "payment_law.yaml") -> PaymentLaw:
    """Validate a payment-law YAML text, raising InputRejected with every problem."""
    return parse_content(text, PaymentLaw, source=source, summary="payment law rejected")


@lru_cache(maxsize=1)
def payment_law() -> PaymentLaw:
    """Load and validate the shipped payment-law table."""
    return load_data("payment_law.yaml", PaymentLaw)


def jurisdiction_for(country: str, size_class: str) -> Jurisdiction | None:
    """Return the payment law protecting a partner of this country and size class, if any."""
    for j in payment_law().jurisdictions:
        if country.upper() in j.countries and size_class in j.size_classes:
            return j
    return None


def rate_table(name: str) -> RateTable:
    """Return a named rate table."""
    return payment_law().rates[name]


def law_by_id(law_id: str | None) -> Jurisdiction | None:
    """Return a jurisdiction by its id (None for None or an id no longer in the table)."""
    return next((j for j in payment_law().jurisdictions if j.id == law_id), None)


_REFERENCE = re.compile(r"(\d+)((?:\([0-9a-z]+\))*)")


def article_label(article: str, language: str) -> str:
    """Return an article reference as readers of a language write it: `Art. 9(2)` is 第9条第2款 in Chinese."""
    citation = payment_law().citations.get(language)
    if citation is None:
        return article
    parts = [part.strip().removeprefix("Art.").strip() for part in article.split(",")]
    return citation.separator.join(_cited(part, citation) for part in parts)


def _cited(ref: str, citation: Citation) -> str:
    match = _REFERENCE.fullmatch(ref)
    if match is None:
        return ref
    parts = re.findall(r"\(([0-9a-z]+)\)", match.group(2))
    paragraph = citation.paragraph.format(n=parts[0]) if parts and parts[0].isdigit() else ""
    points = "".join(citation.point.format(n=p) for p in parts[1 if paragraph else 0 :])
    return citation.article.format(n=match.group(1)) + paragraph + points


def _shown(rule: Rule | None) -> dict[str, object] | None:
    if rule is None:
        return None
    return {"article": {lang: article_label(rule.article, lang) for lang in rule.text}, "text": rule.text}


def rules_applied(law_id: str | None, *, buyer_type: str, basis: str) -> dict[str, object] | None:
    """Return the rules that govern a contract, each with its article and text in both languages."""
    law = law_by_id(law_id)
    if law is None:
        return None
    clock = {"acceptance": law.clock.acceptance, "settlement": law.clock.settlement}.get(
        basis
    ) or law.clock.delivery
    return {
        "id": law.id,
        "name": law.name,
        "source": law.source,
        "term": _shown(law.buyer(buyer_type).rule),
        "clock": _shown(clock),
        "undisputed": _shown(law.undisputed),
        "non_cash": _shown(law.non_cash),
        "confirmation": _shown(law.confirmation),
        "interest": _shown(law.interest),
        "fixed_fee": _shown(law.fixed_fee),
        "disclosure": _shown(law.disclosure),
        "no_retaliation": _shown(law.no_retaliation),
        "declaration": _shown(law.declaration),
    }
