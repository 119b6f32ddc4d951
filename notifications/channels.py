"""Channels: who a message goes to (email, contact URLs, team tags) and one send per target through Apprise.

Apprise pitfalls handled here (see docs/NOTIFICATIONS.md): its 5.5 s sleep between sends is switched
off (`request_rate_per_sec = 0`, Tandem rate-limits per channel itself); one plugin object per target so
each result is known; WeCom, DingTalk, Feishu and Lark answer HTTP 200 with an error code in the JSON
body, so their plugins are subclassed to read it; a TIMEOUT is "unknown", not "failed"; the `apprise`
logger stays at INFO or above, URLs in its own log lines are masked, and URLs are only ever shown in
their privacy form. Email is subclassed too: a stable Message-ID per outbox message and target, and a
refused login reported as such. Python's MIME types are initialised before any send thread starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import mimetypes
import re
import smtplib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import requests
import yaml
from apprise import Apprise, AppriseConfig, NotifyFormat
from apprise.attachment.memory import AttachMemory
from apprise.common import ConfigFormat
from apprise.config.base import ConfigBase
from apprise.exception import AppriseException
from apprise.plugins.base import NotifyBase
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.email.smtp import SMTP_EXCEPTIONS, AppriseSMTPController
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.lark import NotifyLark
from apprise.plugins.wecombot import NotifyWeComBot
from apprise.result import AppriseResultStatus

from models.core.data import load_yaml
from models.core.errors import DeliveryError, DeliveryUnknown
from models.core.secrets import MASK
from models.core.settings import Settings, get_settings
from models.partners.channel_urls import masked
from models.partners.registry import contact_channels
from models.tables import Contact

# Apprise logs credentials at DEBUG and below, and urllib3 logs every request line (webhook tokens sit
# in paths and queries) at DEBUG: never let a caller's logging configuration lower either.
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).setLevel(logging.INFO)

log = logging.getLogger("tandem.notifications")


class _MaskUrls(logging.Filter):
    """Mask what follows `scheme://` in a log line (Apprise logs a URL it cannot parse whole, at ERROR)."""

    _URL = re.compile(r"\b([a-z][a-z0-9+.-]{1,31})://[^\s'\"<>]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            record.msg, record.args = self._URL.sub(rf"\1://{MASK}", message), None
        return True


logging.getLogger("apprise").addFilter(_MaskUrls())

# Content types Tandem attaches, with an extension: a host without /etc/mime.types (python:*-slim) knows
# neither, and Apprise refuses an attachment whose type Python's `mimetypes` does not know.
ATTACHMENT_TYPES = {"text/calendar": ".ics"}
_MIME_LOCK = threading.Lock()


def init_mimetypes() -> None:
    """Initialise Python's MIME types before any send thread starts, with the types Tandem attaches.

    Apprise calls `mimetypes.init()` lazily when it builds an attachment; two send threads doing so at
    once race (one reads the table while the other rebuilds it). Idempotent and cheap: call it at start-up.
    """
    with _MIME_LOCK:
        if not mimetypes.inited:
            mimetypes.init()
        known = set(mimetypes.types_map.values())
        for content_type, extension in ATTACHMENT_TYPES.items():
            if content_type not in known:
                mimetypes.add_type(content_type, extension)


SEND_TIMEOUT_SECONDS = 15.0
# Vendor limits: about 20 messages a minute per DingTalk or WeCom bot, 100 per Feishu/Lark bot.
DEFAULT_PER_MINUTE: dict[str, int] = {"wecombot": 20, "dingtalk": 20, "feishu": 100, "lark": 100}
_TLS_MODES = {"none": "insecure", "starttls": "starttls", "ssl": "ssl"}


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP server every email goes through; the password is resolved by the caller."""

    host: str
    port: int
    tls: str
    user: str | None
    sender: str
    password: str | None = field(default=None, repr=False)


def smtp_config(settings: Settings | None = None, *, password: str | None = None) -> SmtpConfig | None:
    """Return the SMTP configuration from settings (None when no host is set)."""
    settings = settings or get_settings()
    if not settings.smtp_host:
        return None
    if password is None and settings.smtp_password is not None:
        password = settings.smtp_password.get_secret_value()
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls=settings.smtp_tls,
        user=settings.smtp_user,
        sender=settings.smtp_from,
        password=password,
    )


@dataclass(frozen=True)
class Target:
    """One place a message goes: an email address, an Apprise URL or a webhook (in clear, never shown)."""

    channel: str
    url: str = field(repr=False)
    shown: str
    identity: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)  # a webhook's signing secret

    @property
    def hash(self) -> str:
        """Return a stable identity of the target that reveals nothing of it."""
        return hashlib.sha256((self.identity or self.url).encode()).hexdigest()


@dataclass(frozen=True)
class Outgoing:
    """What one send carries."""

    subject: str
    text: str
    html: str
    attachments: Sequence[tuple[str, str, bytes]] = ()
    key: str = ""  # the outbox key: with the target, it makes the email's Message-ID


def message_id_for(key: str, target: Target, sender: str) -> str:
    """Return the Message-ID of one outbox message to one target: the same on every resend."""
    digest = hashlib.sha256(f"{key}\x1f{target.hash}".encode()).hexdigest()[:40]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "tandem.invalid"
    return f"<{digest}.tandem@{domain}>"


def email_target(address: str, smtp: SmtpConfig) -> Target:
    """Return the email target for an address through the configured SMTP server (no password in it)."""
    query = (
        f"smtp={quote(smtp.host)}&mode={_TLS_MODES[smtp.tls]}&from={quote(smtp.sender)}&to={quote(address)}"
    )
    if smtp.user:
        query += f"&user={quote(smtp.user, safe='')}"
    url = f"mailto://{smtp.host}:{smtp.port}/?{query}"
    # Identified by the address alone: a changed SMTP setting must not make a sent email look unsent.
    return Target(channel="email", url=url, shown=f"email:{address}", identity=f"email:{address.lower()}")


def url_target(url: str) -> Target:
    """Return the target for one Apprise URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return Target(channel=scheme[:20], url=url, shown=masked(url))


def contact_targets(contact: Contact, smtp: SmtpConfig | None, *, needs_email: bool = False) -> list[Target]:
    """Return a contact's targets: their chosen channels, else email; email too when attachments matter."""
    targets = [url_target(url) for url in contact_channels(contact)]
    if smtp is not None and (needs_email or not targets):
        targets.insert(0, email_target(contact.email, smtp))
    return targets


@dataclass(frozen=True)
class TeamChannels:
    """Team channels from TANDEM_APPRISE_CONFIG: clear URLs by tag, or why none could be loaded."""

    by_tag: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    problem: str | None = None


def _yaml_problem(text: str) -> str | None:
    if ConfigBase.detect_config_format(text) != ConfigFormat.YAML:
        return None
    try:
        load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"not valid YAML{where}"
    return None


def _broken(path: str, problem: str) -> TeamChannels:
    # Logged once per version of the file (the loader is cached): loud, not once per message.
    problem = f"TANDEM_APPRISE_CONFIG {path}: {problem}; teams get no messages until it is fixed"
    log.error("%s", problem)
    return TeamChannels(problem=problem)


@lru_cache(maxsize=4)
def _load_team_channels(path: str, _mtime: float | None) -> TeamChannels:
    """Load and check the team config once per version of the file (no secret in any problem text)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return _broken(path, "no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return _broken(path, f"cannot be read ({type(exc).__name__})")
    if problem := _yaml_problem(text):
        return _broken(path, problem)
    config = AppriseConfig()
    config.add_config(text)
    apobj = Apprise()
    apobj.add(config)
    by_tag: dict[str, list[str]] = {}
    plugins = list(apobj)
    for plugin in plugins:
        for tag in plugin.tags:
            by_tag.setdefault(str(tag), []).append(plugin.url(privacy=False))
    if not plugins:
        # Apprise drops the whole file for one entry with an unknown scheme or a bad option.
        return _broken(
            path, "no usable URL in it (empty, or an entry with an unknown scheme or a bad option)"
        )
    if not by_tag:
        return _broken(path, "no URL has a tag (teams are found by tag, e.g. `tag: finance`)")
    return TeamChannels({tag: tuple(urls) for tag, urls in by_tag.items()})


def team_channels(settings: Settings | None = None) -> TeamChannels:
    """Return the team channels of TANDEM_APPRISE_CONFIG (none, and no problem, when it is not set)."""
    path = (settings or get_settings()).apprise_config
    if path is None:
        return TeamChannels()
    try:
        mtime: float | None = Path(path).stat().st_mtime
    except OSError:
        mtime = None
    return _load_team_channels(str(path), mtime)


def apprise_config_problems(settings: Settings | None = None) -> list[str]:
    """Return what is wrong with TANDEM_APPRISE_CONFIG (empty when it is fine or not set)."""
    problem = team_channels(settings).problem
    return [problem] if problem else []


def team_targets(team: str, settings: Settings | None = None) -> list[Target]:
    """Return a team's targets from the Apprise config, by tag (none while the config is broken)."""
    return [url_target(url) for url in team_channels(settings).by_tag.get(team, ())]


def secrets_of(target: Target, smtp: SmtpConfig | None = None) -> set[str]:
    """Return the parts of a target that must never be shown (tokens, keys, passwords)."""
    secrets = {smtp.password} if smtp is not None and smtp.password else set()
    if target.secret:
        secrets.add(target.secret)
    if target.channel == "email":
        return secrets
    clear = set(re.split(r"[/:@?&=#,;+\s]+", unquote(target.url)))
    shown = set(re.split(r"[/:@?&=#,;+\s]+", unquote(target.shown)))
    return secrets | {part for part in clear - shown if len(part) >= 4}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return text with every secret replaced by the mask (longest first, so parts never leak)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    return text


class _CheckedPlugin(NotifyBase):
    """Mixin: post JSON and treat a provider error code in a 200 body as a failure."""

    code_fields: tuple[str, ...] = ("errcode", "code")

    def _post_checked(self, url: str, payload: dict[str, Any], params: dict[str, str] | None = None) -> bool:
        self.throttle()
        try:
            response = requests.post(
                url,
                data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"User-Agent": self.app_id, "Content-Type": "application/json; charset=utf-8"},
                params=params,
                verify=self.verify_certificate,
                timeout=self.request_timeout,
                allow_redirects=self.redirects,
            )
        except requests.RequestException as exc:
            self.logger.warning("%s connection error: %s", self.service_name, type(exc).__name__)
            return False
        if response.status_code != requests.codes.ok:
            self.logger.warning("%s answered HTTP %s", self.service_name, response.status_code)
            return False
        return self._body_ok(response)

    def _body_ok(self, response: requests.Response) -> bool:
        try:
            body = response.json()
        except ValueError:
            self.logger.warning("%s answered HTTP 200 without JSON", self.service_name)
            return False
        for name in self.code_fields:
            if isinstance(body, dict) and name in body and body[name] not in (0, "0"):
                message = str(body.get("errmsg") or body.get("msg") or "")[:200]
                self.logger.warning("%s refused: %s=%s %s", self.service_name, name, body[name], message)
                return False
        return True


class CheckedWeComBot(_CheckedPlugin, NotifyWeComBot):
    """WeCom group bot that reads `errcode` from the reply."""

    def send(self, body: str, title: str = "", notify_type: Any = None, **kwargs: Any) -> bool:
        content = f"{title}\n{body}" if title else body
        return self._post_checked(self.api_url, {"msgtype": "text", "text": {"content": content}})


class CheckedDingTalk(_CheckedPlugin, NotifyDingTalk):
    """DingTalk robot that reads `errcode` from the reply (signing kept from Apprise)."""

    def send(
        self,
        body: str,
        title: str = "",
        notify_type: Any = None,
        body_format: NotifyFormat | None = None,
        **kwargs: Any,
    ) -> bool:
        payload: dict[str, Any] = {
            "msgtype": "text",
            "text": {"content": f"{title}\n{body}" if title else body},
            "at": {"atMobiles": self.targets, "isAtAll": False},
        }
        params = None
        if self.secret:
            timestamp, signature = self.get_signature()
            params = {"timestamp": timestamp, "sign": unquote(signature)}
        return self._post_checked(self.notify_url.format(token=self.token), payload, params)


class CheckedFeishu(_CheckedPlugin, NotifyFeishu):
    """Feishu bot that reads `code` (or `StatusCode`) from the reply."""

    code_fields = ("code", "StatusCode")

    def send(self, body: str, title: str = "", notify_type: Any = None, **kwargs: Any) -> bool:
        content = f"{title}\n{body}" if title else body
        payload = {"msg_type": "text", "content": {"text": content}}
        return self._post_checked(self.notify_url.format(token=self.token), payload)


class CheckedLark(_CheckedPlugin, NotifyLark):
    """Lark bot that reads `code` (or `StatusCode`) from the reply."""

    code_fields = ("code", "StatusCode")

    def send(self, body: str, title: str = "", notify_type: Any = None, **kwargs: Any) -> bool:
        content = f"{title}\n{body}" if title else body
        return self._post_checked(self.webhook_url, {"msg_type": "text", "content": {"text": content}})


class CheckedEmail(NotifyEmail):
    """Email with a Message-ID derived from the outbox (a resend carries the same one), and a refused
    login reported as an authentication failure, not as Apprise's "connection error"."""

    message_id: str | None = None
    _MESSAGE_ID = re.compile(r"^Message-ID:[^\n]*(?:\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE)

    def send(
        self,
        body: str,
        title: str = "",
        notify_type: Any = None,
        attach: Any = None,
        body_format: Any = None,
        **kwargs: Any,
    ) -> bool:
        self.throttle()
        try:
            with AppriseSMTPController(
                host=self.smtp_host,
                port=self.port,  # type: ignore[arg-type]  # Apprise's hints say int; None is its default
                secure_mode=self.secure_mode,  # type: ignore[arg-type]  # likewise
                user=self.user,
                password=self.password,
                verify_certificate=self.verify_certificate,
                socket_connect_timeout=self.socket_connect_timeout,
            ) as smtp:
                emails = NotifyEmail.prepare_emails(
                    subject=title,
                    body=body,
                    notify_format=self.resolve_format(body_format),
                    from_addr=self.from_addr,
                    to=self.targets,
                    cc=self.cc,
                    bcc=self.bcc,
                    reply_to=self.reply_to,
                    smtp_host=self.smtp_host,
                    attach=attach,
                    headers={"X-Application": self.app_id, **self.headers},
                    names=self.names,
                    tzinfo=self.tzinfo,
                )
                sender = str(self.from_addr[1])
                sent = [smtp.sendmail(sender, e.to_addrs, self._stamped(e.body)) for e in emails]
                return bool(sent) and all(sent)
        except smtplib.SMTPAuthenticationError as exc:
            reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
            self.logger.warning(
                "authentication failed: the SMTP server refused the login (%s %s)", exc.smtp_code, reply[:200]
            )
        except (*SMTP_EXCEPTIONS, AppriseException) as exc:
            self.logger.warning(
                "connection error with the SMTP server: %s: %s", type(exc).__name__, str(exc)[:200]
            )
        return False

    def _stamped(self, email: str) -> str:
        """Replace the random Message-ID Apprise generated with ours (top-level headers only)."""
        if not self.message_id:
            return email
        head, blank, rest = email.partition("\n\n")
        head = self._MESSAGE_ID.sub(lambda _: f"Message-ID: {self.message_id}", head, count=1)
        return head + blank + rest


CHECKED: dict[type[NotifyBase], type[NotifyBase]] = {
    NotifyWeComBot: CheckedWeComBot,
    NotifyDingTalk: CheckedDingTalk,
    NotifyFeishu: CheckedFeishu,
    NotifyLark: CheckedLark,
}


@lru_cache(maxsize=2048)
def _recipe(url: str, is_email: bool) -> tuple[type[NotifyBase], dict[str, Any] | None] | None:
    """Parse a URL once into (plugin class, arguments): parsing costs more than building the plugin."""
    if is_email:
        return CheckedEmail, CheckedEmail.parse_url(url)
    base = Apprise.instantiate(url, suppress_exceptions=True)
    if base is None:
        return None
    checked = CHECKED.get(type(base))
    if checked is not None:
        return checked, checked.parse_url(base.url(privacy=False))
    return type(base), type(base).parse_url(url)


def plugin_for(target: Target, smtp: SmtpConfig | None = None) -> NotifyBase:
    """Build a fresh plugin object for one target (plugins hold per-send state: never share them)."""
    is_email = target.channel == "email"
    if is_email and smtp is None:
        raise DeliveryError("email target but no SMTP server configured (TANDEM_SMTP_HOST)")
    recipe = _recipe(target.url, is_email)
    if recipe is None:
        raise DeliveryError(f"{target.shown}: not a usable Apprise URL")
    cls, parsed = recipe
    if parsed is None:
        raise DeliveryError(f"{target.shown}: not a usable Apprise URL")
    options = copy.deepcopy(parsed)
    if smtp is not None and is_email:
        options["password"] = smtp.password
    plugin = cls(**options)
    plugin.request_rate_per_sec = 0
    # Apprise's own call timeout must fire first, so a slow server reads as TIMEOUT ("unknown").
    plugin.socket_read_timeout = SEND_TIMEOUT_SECONDS + 5
    return plugin


def send(target: Target, message: Outgoing, *, smtp: SmtpConfig | None = None) -> None:
    """Send one message to one target; raise DeliveryError, or DeliveryUnknown on a timeout."""
    secrets = secrets_of(target, smtp)
    try:
        plugin = plugin_for(target, smtp)
    except (TypeError, ValueError) as exc:
        raise DeliveryError(scrub(f"{target.shown}: {exc}", secrets)) from None
    is_email = target.channel == "email"
    if isinstance(plugin, CheckedEmail) and smtp is not None and message.key:
        plugin.message_id = message_id_for(message.key, target, smtp.sender)
    apobj = Apprise()
    apobj.add(plugin)
    attach = [
        AttachMemory(content=data, name=name, mimetype=ctype) for name, ctype, data in message.attachments
    ]
    result = apobj.notify(
        body=message.html if is_email else message.text,
        title=message.subject,
        body_format=NotifyFormat.HTML if is_email else NotifyFormat.TEXT,
        attach=attach or None,
        timeout=SEND_TIMEOUT_SECONDS,
    )
    if result.status == AppriseResultStatus.SUCCESS:
        return
    detail = "; ".join(entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR"))
    detail = scrub(f"{target.shown}: {result.status.name.lower()}{': ' + detail if detail else ''}", secrets)
    if result.status == AppriseResultStatus.TIMEOUT:
        raise DeliveryUnknown(detail[:1000])
    raise DeliveryError(detail[:1000])


class RateLimiter:
    """At most N sends a minute per channel target (a sliding window), shared by worker threads."""

    def __init__(self, per_minute: int | None = None) -> None:
        self.per_minute = per_minute
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        # Called before every email: the hook that holds a rate shared by all workers (set by tasks).
        self.before_email: Callable[[], None] | None = None

    def limit_for(self, target: Target) -> int:
        """Return the per-minute limit for a target (0 means none)."""
        if self.per_minute is not None:
            return self.per_minute
        return DEFAULT_PER_MINUTE.get(target.channel, 0)

    def wait(self, target: Target) -> float:
        """Block until the target may take one more message; return the seconds waited."""
        if target.channel == "email" and self.before_email is not None:
            self.before_email()
        limit = self.limit_for(target)
        if limit <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                window = self._sent.setdefault(target.hash, deque())
                while window and now - window[0] >= 60.0:
                    window.popleft()
                if len(window) < limit:
                    window.append(now)
                    return waited
                pause = 60.0 - (now - window[0])
            time.sleep(pause)
            waited += pause


@lru_cache(maxsize=8)
def shared_limiter(per_minute: int | None) -> RateLimiter:
    """Return the process-wide limiter for a setting, so limits hold across batches."""
    return RateLimiter(per_minute)
