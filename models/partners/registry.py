"""The partner registry: add, import, look up and classify partners and their contacts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.core import audit
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.secrets import decrypt_json, encrypt_json
from models.core.settings import LANGUAGES
from models.core.validation import currency_code, normalize_email, problems_from
from models.partners.channels import is_valid, masked
from models.partners.sizing import Figures, SizeResult, classify, industry_codes
from models.tables import Contact, Partner
from models.tables.core import Side


def _language(value: str) -> str:
    for lang in LANGUAGES:
        if value.strip().lower() == lang.lower():
            return lang
    raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {value!r}")


class PartnerCreate(BaseModel):
    """A new partner as given at a boundary (CLI, CSV row, flow parameter)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    legal_name: str = Field(min_length=1, max_length=300)
    registration_id: str = Field(min_length=1, max_length=64)
    country: str = Field(description="ISO 3166 two-letter code, e.g. CN, DE.")
    industry: str = Field(description="Industry code from the sizing tables.")
    employees: int = Field(ge=0)
    annual_revenue: int = Field(ge=0, description="Whole currency units.")
    currency: str = Field(min_length=3, max_length=3)
    total_assets: int | None = Field(default=None, ge=0)
    linked_employees: int = Field(default=0, ge=0)
    linked_revenue: int = Field(default=0, ge=0)
    linked_assets: int = Field(default=0, ge=0)
    partner_enterprise_employees: int = Field(default=0, ge=0)
    partner_enterprise_revenue: int = Field(default=0, ge=0)
    partner_enterprise_assets: int = Field(default=0, ge=0)
    preferred_language: str = "en"

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError(f"country must be a two-letter ISO code, not {value!r}")
        return value.upper()

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)

    @field_validator("industry")
    @classmethod
    def _industry(cls, value: str) -> str:
        codes = industry_codes()
        if value not in codes:
            raise ValueError(f"unknown industry {value!r}; known: {', '.join(codes)}")
        return value

    @field_validator("preferred_language")
    @classmethod
    def _lang(cls, value: str) -> str:
        return _language(value)


class ContactCreate(BaseModel):
    """A new contact as given at a boundary."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str
    name: str = ""
    side: Side
    language: str = "en"
    timezone: str | None = None
    role: str = ""
    teams: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list, description="Apprise URLs (secret).")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

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


def figures_of(partner: Partner) -> Figures:
    """Return the sizing figures of a stored partner."""
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


def validate_partner(data: dict[str, Any], *, where: str = "") -> PartnerCreate:
    """Validate raw partner fields, raising InputRejected with every problem."""
    try:
        return PartnerCreate.model_validate(data)
    except ValidationError as exc:
        raise InputRejected(problems_from(exc, where=where), summary="partner rejected") from exc


def find_partner(session: Session, ref: str | int) -> Partner:
    """Find a partner by id, registration id, or COUNTRY:registration id."""
    text = str(ref).strip()
    query = select(Partner)
    if text.isdigit():
        found = session.get(Partner, int(text))
        if found:
            return found
    if ":" in text:
        country, regid = text.split(":", 1)
        query = query.where(Partner.country == country.upper(), Partner.registration_id == regid)
    else:
        query = query.where(Partner.registration_id == text)
    matches = list(session.exec(query.limit(2)))
    if len(matches) > 1:
        raise NotFound(f"partner {text!r} is ambiguous: use COUNTRY:{text}")
    if not matches:
        raise NotFound(f"no partner {text!r} (give an id, a registration id or COUNTRY:REGID)")
    return matches[0]


def existing_registrations(session: Session, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Return which (country, registration id) pairs are already stored, in one query per country."""
    found: set[tuple[str, str]] = set()
    by_country: dict[str, list[str]] = {}
    for country, regid in keys:
        by_country.setdefault(country, []).append(regid)
    for country, regids in by_country.items():
        query = select(Partner.registration_id).where(
            Partner.country == country, col(Partner.registration_id).in_(regids)
        )
        found |= {(country, regid) for regid in session.exec(query)}
    return found


def add_partner(session: Session, data: PartnerCreate, *, actor: str, checked: bool = False) -> Partner:
    """Store a new partner and audit it; refuse a duplicate registration."""
    key = (data.country, data.registration_id)
    # `checked`: the caller already looked the whole batch up in one query (the CSV import).
    if not checked and existing_registrations(session, {key}):
        raise Conflict(f"partner {data.country}:{data.registration_id} already exists")
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


def find_contact(session: Session, email: str) -> Contact | None:
    """Return the contact with this email, if any."""
    return session.exec(select(Contact).where(Contact.email == normalize_email(email))).first()


def add_contact(
    session: Session, data: ContactCreate, *, actor: str, partner_id: int | None = None
) -> Contact:
    """Store a new contact (channels encrypted, shown masked) and audit it."""
    if data.side == Side.partner and partner_id is None:
        raise InputRejected([Problem("contact", "a partner-side contact needs a partner")])
    contact = Contact(
        email=data.email,
        name=data.name,
        side=data.side.value,
        language=data.language,
        timezone=data.timezone,
        role=data.role,
        teams=",".join(data.teams),
        partner_id=partner_id if data.side == Side.partner else None,
        channels_encrypted=encrypt_json(data.channels) if data.channels else None,
        channels_masked=[masked(url) for url in data.channels],
    )
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


def contact_channels(contact: Contact) -> list[str]:
    """Return a contact's channel URLs in clear, for delivery only."""
    if not contact.channels_encrypted:
        return []
    value = decrypt_json(contact.channels_encrypted)
    return [str(url) for url in value] if isinstance(value, list) else []


def partner_public(partner: Partner, size: SizeResult | None = None) -> dict[str, Any]:
    """Return a partner as plain data for JSON output."""
    data = partner.model_dump(mode="json")
    if size is not None:
        data["size_class"] = size.size_class
        data["size_scheme"] = size.scheme
    return data


def contact_public(contact: Contact) -> dict[str, Any]:
    """Return a contact as plain data with its channels masked."""
    data = contact.model_dump(mode="json", exclude={"channels_encrypted"})
    data["channels"] = data.pop("channels_masked")
    return data
