"""The partner registry: add, import, look up, list and classify partners and their contacts.

Every partner row also stores its size class under today's tables (`size_class`, `size_scheme`, or
`size_problem` when it cannot be classified), so listings filter and page in SQL:
- an ORM write of a partner recomputes them (the `before_insert`/`before_update` hooks on the table);
- the import computes them for its bulk insert and update;
- `size_tables` holds the fingerprint of the tables and rates they were computed with, and
  `refresh_sizes` recomputes every row whose fingerprint is not today's (the first listing after a
  release that changed `sizing_*.yaml` or `fx_rates.yaml`).
The class frozen on a relationship at signing never changes with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from models.core import audit
from models.core.db import table_of, update_rows
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.secrets import decrypt_json, encrypt_json
from models.core.settings import LANGUAGES
from models.core.validation import (
    MAX_AMOUNT,
    SingleLine,
    country_code,
    currency_code,
    normalize_email,
    record_id,
    single_line,
)
from models.partners.channel_urls import is_valid, masked
from models.partners.sizing import (
    Figures,
    Size,
    SizeResult,
    classify,
    currencies,
    industry_codes,
    needs_total_assets,
    size_of,
    tables_version,
)
from models.tables import Contact, Partner, Relationship
from models.tables.core import AMOUNT_UNITS, PartnerBase, Side

Unclassifiable = Literal["unclassifiable"]
UNCLASSIFIABLE: Unclassifiable = "unclassifiable"
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s./-]")
LOOKUP_CHUNK = 5000  # values in one IN (...): SQLite allows 32,766 parameters a statement


def _language(value: str) -> str:
    for lang in LANGUAGES:
        if value.strip().lower() == lang.lower():
            return lang
    raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {value!r}")


def registration_key(value: str, country: str | None) -> str:
    """Return a registration id in its one stored form, or raise ValueError if it cannot be one.

    Upper case with single spaces (`hrb  701234` is `HRB 701234`); a Chinese id must be a unified
    social credit code (GB 32100-2015) with a right check digit, and an EU id written as a VAT
    number (`DE...`, `PT...`) must have right check digits.
    """
    text = _SPACES.sub(" ", single_line(value).strip()).upper()
    if country == "CN":
        return _uscc(text)
    return _vat_checked(text, country) if country else text


def _uscc(text: str) -> str:
    from stdnum.cn import uscc  # loaded only when a Chinese id is checked
    from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

    try:
        return uscc.validate(text)
    except InvalidLength:
        problem = "must be the 18-character unified social credit code (统一社会信用代码)"
    except InvalidChecksum:
        problem = "has a wrong check digit for a unified social credit code (GB 32100-2015)"
    except ValidationError:
        problem = "has characters a unified social credit code cannot have (no I, O, S, V or Z)"
    raise ValueError(f"{text!r} {problem}")


def _vat_checked(text: str, country: str) -> str:
    from stdnum.eu import vat  # loaded only when an EU id is checked

    prefix = "EL" if country == "GR" else country
    compact = _SEPARATORS.sub("", text)
    rest = compact[len(prefix) :]
    # Written as a VAT number: the country's VAT prefix, then mostly digits (HRB, KVK, RCS are not).
    if country.lower() not in vat.MEMBER_STATES or not compact.startswith(prefix):
        return text
    if not rest.isalnum() or sum(c.isdigit() for c in rest) < 7:
        return text
    if not vat.is_valid(compact):
        raise ValueError(f"{text!r} is written as a {prefix} VAT number, but its check digits are wrong")
    return compact


@dataclass(frozen=True)
class _IdIn:
    """A registration id as given, with the country it is checked against (None: no valid country)."""

    text: str
    country: str | None


def _country_or_none(value: object) -> str | None:
    try:
        return country_code(value) if isinstance(value, str) else None
    except ValueError:
        return None


class PartnerCreate(PartnerBase):
    """A new partner as given at a boundary (CLI, CSV row, flow parameter)."""

    model_config = PartnerBase.model_config | {
        "extra": "forbid",
        "str_strip_whitespace": True,
        "from_attributes": False,  # a mapping, as every boundary gives it
    }

    # Without the table's length limits: the checks below say better what is wrong.
    country: str = Field(description="ISO 3166 two-letter code, e.g. CN, DE.")
    industry: str = Field(description="Industry code from the sizing tables.")
    # Checked even when not given: some Chinese industries are sized by total assets.
    total_assets: Annotated[int, Field(ge=0, le=MAX_AMOUNT, description=AMOUNT_UNITS)] | None = Field(
        default=None, validate_default=True
    )
    preferred_language: str = "en"

    @model_validator(mode="before")
    @classmethod
    def _id_with_its_country(cls, data: Any) -> Any:
        # How an id is checked depends on the country, but fields are validated in the table's
        # column order, the id first: hand the id's validator the country given with it.
        if isinstance(data, dict) and isinstance(data.get("registration_id"), str):
            given = _IdIn(data["registration_id"], _country_or_none(data.get("country")))
            return {**data, "registration_id": given}
        return data

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return country_code(value)

    @field_validator("registration_id", mode="wrap")
    @classmethod
    def _registration(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> str:
        if isinstance(value, _IdIn):
            return registration_key(handler(value.text), value.country)
        return str(handler(value))

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = currency_code(value)
        if code not in currencies():
            known = ", ".join(currencies())
            message = f"no exchange rate for {code} in fx_rates.yaml to size the partner"
            raise ValueError(f"{message}; known: {known}")
        return code

    @field_validator("industry")
    @classmethod
    def _industry(cls, value: str) -> str:
        codes = industry_codes()
        if value not in codes:
            raise ValueError(f"unknown industry {value!r}; known: {', '.join(codes)}")
        return value

    @field_validator("total_assets")
    @classmethod
    def _assets(cls, value: int | None, info: ValidationInfo) -> int | None:
        country, industry = info.data.get("country"), info.data.get("industry")
        if value is None and country and industry and needs_total_assets(country, industry):
            raise ValueError(f"required: the Chinese scheme sizes industry {industry!r} by total assets")
        return value

    @field_validator("preferred_language")
    @classmethod
    def _lang(cls, value: str) -> str:
        return _language(value)


class ContactCreate(BaseModel):
    """A new contact as given at a boundary."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str
    name: SingleLine = Field(default="", max_length=200)
    side: Side
    language: str = "en"
    timezone: str | None = Field(default=None, max_length=64)
    role: SingleLine = Field(default="", max_length=80)
    teams: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list, description="Apprise URLs (secret).")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("teams")
    @classmethod
    def _teams(cls, teams: list[str]) -> list[str]:
        tags = [single_line(tag.strip()) for tag in teams if tag.strip()]
        if len(",".join(tags)) > 200:
            raise ValueError("team tags take at most 200 characters together")
        return tags

    @field_validator("language")
    @classmethod
    def _lang(cls, value: str) -> str:
        return _language(value)

    @field_validator("channels")
    @classmethod
    def _channels(cls, urls: list[str]) -> list[str]:
        bad = [masked(url) for url in urls if not is_valid(url)]
        if bad:
            raise ValueError(f"malformed Apprise URL(s): {', '.join(bad)}")
        return urls


def figures_of(partner: Partner | PartnerCreate) -> Figures:
    """Return the sizing figures of a partner, stored or about to be."""
    return Figures(
        country=partner.country,
        industry=partner.industry,
        employees=partner.employees,
        revenue=partner.annual_revenue,
        currency=partner.currency,
        total_assets=partner.total_assets,
        linked_employees=partner.linked_employees,
        linked_revenue=partner.linked_revenue,
        linked_assets=partner.linked_assets,
        partner_ent_employees=partner.partner_enterprise_employees,
        partner_ent_revenue=partner.partner_enterprise_revenue,
        partner_ent_assets=partner.partner_enterprise_assets,
    )


def classify_partner(partner: Partner) -> SizeResult:
    """Classify a stored partner under its country's scheme."""
    return classify(figures_of(partner))


def size_columns(partner: Partner | PartnerCreate) -> dict[str, str | None]:
    """Return the stored size columns of a partner under today's tables; never raises."""
    try:
        return sized_columns(size_of(figures_of(partner)))
    except InputRejected as exc:
        problem = "; ".join(str(p) for p in exc.problems)[:500]
        unsized = {"size_class": None, "size_scheme": None, "size_problem": problem}
        return {**unsized, "size_tables": tables_version()}


def sized_columns(size: Size) -> dict[str, str | None]:
    """Return the stored size columns of a size class found under today's tables."""
    return {
        "size_class": size.size_class,
        "size_scheme": size.scheme,
        "size_problem": None,
        "size_tables": tables_version(),
    }


def refresh_sizes(session: Session, *, batch: int = 2000) -> int:
    """Recompute the stored size of every partner sized under other tables; return how many."""
    stale = select(Partner).where(col(Partner.size_tables) != tables_version()).order_by(col(Partner.id))
    done = 0
    while partners := list(session.exec(stale.limit(batch))):
        update_rows(session, table_of(Partner), [{"id": p.id, **size_columns(p)} for p in partners])
        session.expire_all()  # the rows just written are stale in the identity map
        done += len(partners)
    return done


def find_partner(session: Session, ref: str | int) -> Partner:
    """Find a partner by id, registration id, or COUNTRY:registration id (in any letter case)."""
    text = str(ref).strip()
    query = select(Partner)
    if (pid := record_id(text)) is not None:
        found = session.get(Partner, pid)
        if found:
            return found
    country, _, regid = text.rpartition(":") if ":" in text else ("", "", text)
    try:
        key = registration_key(regid, country.strip().upper() or None)
    except ValueError:
        key = _SPACES.sub(" ", regid.strip()).upper()  # not a valid id: it matches nothing stored
    query = query.where(Partner.registration_id == key)
    if country:
        query = query.where(Partner.country == country.strip().upper())
    matches = list(session.exec(query.limit(2)))
    if len(matches) > 1:
        raise NotFound(f"partner {text!r} is ambiguous: use COUNTRY:{text}")
    if not matches:
        raise NotFound(f"no partner {text!r} (give an id, a registration id or COUNTRY:REGID)")
    return matches[0]


@dataclass(frozen=True)
class PartnerFilter:
    """Which partners a listing shows: all filters must hold."""

    search: str | None = None  # part of the legal name or of the registration id, any case
    size_class: str | None = None  # micro, small, medium, large or unclassifiable
    country: str | None = None
    tier: str | None = None  # of one of the partner's relationships
    stage: str | None = None  # of one of the partner's relationships (with the tier, the same one)


def list_partners(
    session: Session, where: PartnerFilter, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[Partner]]:
    """Return how many partners match and one page of them, by id; sizes refreshed first."""
    refresh_sizes(session)
    query = select(Partner)
    if where.search:
        text = where.search.strip()
        query = query.where(
            col(Partner.legal_name).icontains(text, autoescape=True)
            | col(Partner.registration_id).icontains(_SPACES.sub(" ", text), autoescape=True)
        )
    if where.size_class == UNCLASSIFIABLE:
        query = query.where(col(Partner.size_class).is_(None))
    elif where.size_class:
        query = query.where(Partner.size_class == where.size_class)
    if where.country:
        query = query.where(Partner.country == where.country.strip().upper())
    if where.tier or where.stage:
        related = select(Relationship.id).where(Relationship.partner_id == Partner.id)
        if where.tier:
            related = related.where(Relationship.tier == where.tier)
        if where.stage:
            related = related.where(Relationship.stage == where.stage)
        query = query.where(related.exists())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(Partner.id)).offset(offset)
    return total, list(session.exec(page.limit(limit) if limit else page))


def existing_registrations(session: Session, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Return which (country, registration id) pairs are already stored, a few queries per country."""
    found: set[tuple[str, str]] = set()
    by_country: dict[str, list[str]] = {}
    for country, regid in keys:
        by_country.setdefault(country, []).append(regid)
    for country, regids in by_country.items():
        for start in range(0, len(regids), LOOKUP_CHUNK):
            query = select(Partner.registration_id).where(
                Partner.country == country,
                col(Partner.registration_id).in_(regids[start : start + LOOKUP_CHUNK]),
            )
            found |= {(country, regid) for regid in session.exec(query)}
    return found


def add_partner(session: Session, data: PartnerCreate, *, actor: str) -> Partner:
    """Store a new partner and audit it; refuse a duplicate registration or a partner that cannot be sized."""
    key = (data.country, data.registration_id)
    if existing_registrations(session, {key}):
        raise Conflict(f"partner {data.country}:{data.registration_id} already exists")
    size_of(figures_of(data))  # raises InputRejected naming the fields that keep it from a class
    partner = Partner(**data.model_dump())
    session.add(partner)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent writer won the race
        raise Conflict(f"partner {data.country}:{data.registration_id} already exists") from exc
    audit.record(
        session,
        actor=actor,
        action="partner.created",
        entity="partner",
        entity_id=partner.id,
        data={"legal_name": partner.legal_name},
    )
    return partner


def add_partner_once(session: Session, data: PartnerCreate, *, actor: str) -> Partner:
    """Register a new partner, or return the one already registered under its country and id."""
    if existing_registrations(session, {(data.country, data.registration_id)}):
        return find_partner(session, f"{data.country}:{data.registration_id}")
    return add_partner(session, data, actor=actor)


def find_contact(session: Session, email: str) -> Contact | None:
    """Return the contact with this email, if any."""
    return session.exec(select(Contact).where(Contact.email == normalize_email(email))).first()


def add_contact(
    session: Session, data: ContactCreate, *, actor: str, partner_id: int | None = None
) -> Contact:
    """Store a new contact (channels encrypted, shown masked) and audit it."""
    if data.side == Side.partner and partner_id is None:
        raise InputRejected([Problem("contact", "a partner-side contact needs a partner")])
    contact = Contact(**contact_fields(data, partner_id=partner_id))
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contact.created",
        entity="contact",
        entity_id=contact.id,
        data={"email": contact.email, "side": contact.side, "channels": contact.channels_masked},
    )
    return contact


def contact_fields(data: ContactCreate, *, partner_id: int | None) -> dict[str, Any]:
    """Return the stored columns of a new contact: channels encrypted, and masked for display."""
    return {
        "email": data.email,
        "name": data.name,
        "side": data.side.value,
        "language": data.language,
        "timezone": data.timezone,
        "role": data.role,
        "teams": ",".join(data.teams),
        "partner_id": partner_id if data.side == Side.partner else None,
        "channels_encrypted": encrypt_json(data.channels) if data.channels else None,
        "channels_masked": [masked(url) for url in data.channels],
    }


def contact_channels(contact: Contact) -> list[str]:
    """Return a contact's channel URLs in clear, for delivery only."""
    return channels_in(contact.channels_encrypted)


def channels_in(token: str | None) -> list[str]:
    """Return the channel URLs a stored token holds, in clear."""
    if not token:
        return []
    value = decrypt_json(token)
    return [str(url) for url in value] if isinstance(value, list) else []


def partner_public(partner: Partner) -> dict[str, Any]:
    """Return a partner as plain data for JSON output (an unclassifiable one: no class, a size_problem)."""
    return partner.model_dump(mode="json", exclude={"size_tables"})


def contact_public(contact: Contact) -> dict[str, Any]:
    """Return a contact as plain data with its channels masked."""
    data = contact.model_dump(mode="json", exclude={"channels_encrypted"})
    data["channels"] = data.pop("channels_masked")
    return data
