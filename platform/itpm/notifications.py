"""Telling people: a notification in the app (the bell) and by e-mail, each in the reader's language.

Automations give bilingual subject and body templates (`{"en": ..., "zh": ...}`)
with placeholders such as `{number}`, `{title}`, `{state}` and `{link}`;
`compose` fills them in for one language (pure: no database, no clock) and
lays the e-mail out as text and HTML. `notify` delivers to people, at most
once per (key, channel, person) however often a job runs: the app channel's
`Notification` row and the e-mail channel's `ActionRun` row carry that key.
Whom to tell, and with which key, is the automation engine's business.

Without an SMTP host e-mail is skipped and notifications are in-app only.
An e-mail may carry files (a report's PDF); the caller chooses them per
person, since what one reader may download another may not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import smtplib
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from itpm.config import Settings
from itpm.db import utcnow
from itpm.models import ActionRun, Notification, Person

APP = "app"
EMAIL = "email"
CHANNELS = (APP, EMAIL)
#: What a notification is about: each person chooses which kinds also reach them by e-mail
#: (`Person.email_kinds`; None: every kind). In the app every kind is shown.
KINDS = {
    "assignment": {"en": "Work assigned to me", "zh": "分配给我的工作"},
    "approval": {"en": "Approvals I am asked to decide", "zh": "需要我审批的申请"},
    "mention": {"en": "Comments that mention me", "zh": "提到我的评论"},
    "client_reply": {"en": "Client replies on my tickets", "zh": "客户对我处理的工单的回复"},
    "sla": {"en": "SLA warnings and breaches", "zh": "SLA 预警与超时"},
    "digest": {"en": "The morning digest of my work", "zh": "每日早间待办摘要"},
    "survey": {"en": "Satisfaction surveys of my closed tickets", "zh": "已关闭工单的满意度调查"},
    "automation": {"en": "Other notices of automations and reports", "zh": "自动化规则与报表的其他通知"},
}
LANGUAGES = ("zh", "en")
#: Whoever has not chosen a language reads the company's, as in the web app.
DEFAULT_LANGUAGE = "zh"
SMTP_TIMEOUT = 10
#: An e-mail claimed by a worker that vanished (killed mid-job) may be sent again after this.
CLAIM_TIMEOUT = dt.timedelta(minutes=5)
#: The longest key a caller may give: room is left for the channel and the person's id.
MAX_KEY_LENGTH = 160

#: `{name}`: a name only, so no attribute access, indexing or format spec can get in.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: The e-mail's own words; the footer is shown in both languages, the reader's first.
EMAIL_TEXTS = {
    "en": {
        "open": "Open in itpm",
        "or_copy": "Or copy this address into your browser:",
        "footer": "Sent automatically by itpm. Replies to this message are not read.",
    },
    "zh": {
        "open": "在 itpm 中打开",
        "or_copy": "或将此地址复制到浏览器中打开：",
        "footer": "此邮件由 itpm 自动发送，请勿直接回复。",
    },
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "itpm" / "email"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)

Texts = Mapping[str, str]


@dataclass(frozen=True)
class Message:
    """A notification rendered for one reader: the in-app subject and body, and the e-mail parts."""

    lang: str
    subject: str
    body: str
    #: The record's address, absolute (for e-mail), or "" when there is none.
    link: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    """A file that goes with an e-mail."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Sent:
    """Who was told what by one `notify` call (people told before, by an earlier run, are not listed)."""

    app: list[int] = field(default_factory=list)
    email: list[int] = field(default_factory=list)


class EmailFailed(RuntimeError):
    """Some e-mails could not be handed to the SMTP server; the rest were sent and recorded.

    Running the same `notify` again sends only the missing ones.
    """

    def __init__(self, failures: Mapping[int, str]) -> None:
        self.failures = dict(failures)
        super().__init__("; ".join(f"person {who}: {error}" for who, error in self.failures.items()))


def in_language(texts: Texts | str | None, lang: str) -> str:
    """A bilingual text in `lang`, else in the other language; a plain string as it is."""
    if texts is None:
        return ""
    if isinstance(texts, Mapping):
        return str(texts.get(lang) or texts.get("en") or texts.get("zh") or "")
    return str(texts)


def fill(template: str, context: Mapping[str, Any], lang: str) -> str:
    """`template` with each `{name}` found in `context` replaced; unknown names stay as written.

    A value that is itself bilingual (a state's title) is read in `lang`.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return in_language(context[name], lang) if name in context else match.group(0)

    return PLACEHOLDER.sub(value, template)


def absolute_link(link: str, base_url: str) -> str:
    """A link inside the app (`/records/incident/show/5`) as an address outside it."""
    if not link or link.startswith(("http://", "https://")):
        return link
    return f"{base_url.rstrip('/')}/{link.lstrip('/')}"


def compose(
    subject: Texts | str,
    body: Texts | str | None,
    context: Mapping[str, Any],
    link: str,
    lang: str,
    base_url: str,
) -> Message:
    """A notification in `lang`: templates filled from `context` (plus `{link}`), laid out as text and HTML."""
    address = absolute_link(link, base_url)
    values = {**context, "link": address}  # a link in the text is always absolute: it is read outside too
    title = " ".join(fill(in_language(subject, lang), values, lang).split())  # one line: it is a header
    text = fill(in_language(body, lang), values, lang).strip()
    page = {
        "lang": lang,
        "subject": title,
        "body": text,
        "paragraphs": [p.splitlines() for p in re.split(r"\n\s*\n", text) if p.strip()],
        "link": address,
        "texts": EMAIL_TEXTS[lang],
        "footers": [EMAIL_TEXTS[lang]["footer"]] + [EMAIL_TEXTS[o]["footer"] for o in LANGUAGES if o != lang],
    }
    return Message(
        lang=lang,
        subject=title,
        body=text,
        link=address,
        text=_templates.get_template("notification.txt").render(page),
        html=_templates.get_template("notification.html").render(page),
    )


def wants_email(person: Person, kind: str) -> bool:
    """Whether the person takes notifications of `kind` by e-mail (everyone does until they choose)."""
    chosen = person.email_kinds
    return chosen is None or kind in chosen


def language_of(person: Person) -> str:
    locale = (person.locale or "").lower()
    return next((lang for lang in LANGUAGES if locale.startswith(lang)), DEFAULT_LANGUAGE)


def channel_key(key: str, channel: str, person_id: int) -> str:
    """The idempotency key of one channel to one person: what makes a repeated send a no-op."""
    return f"{key}:{channel}:{person_id}"


def message_id(key: str, sender: str) -> str:
    """A Message-ID that is the same each time the e-mail of `key` is sent, so mail clients see one message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "itpm.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def email_message(
    message: Message,
    person: Person,
    sender: str,
    key: str,
    now: dt.datetime,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The multipart (text and HTML, and any files) e-mail of a rendered notification to one person."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = formataddr((f"{person.first_name or ''} {person.last_name or ''}".strip(), person.email))
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(key, sender)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies stay away
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        email.add_attachment(attachment.data, maintype, subtype, filename=attachment.filename)
    email["Content-Language"] = "zh-CN" if message.lang == "zh" else "en"  # after the parts: theirs move down
    return email


def notify(
    session: Session,
    settings: Settings,
    people: Iterable[Person],
    key: str,
    subject: Texts | str,
    body: Texts | str | None,
    context: Mapping[str, Any],
    link: str = "",
    channels: Sequence[str] = CHANNELS,
    *,
    now: dt.datetime | None = None,
    automation: str = "",
    attachments: Mapping[int, Sequence[Attachment]] | None = None,
    kind: str = "automation",
) -> Sent:
    """Tell each active person, in their language, on each channel, once per `key`.

    `link` is the record's address inside the app (`/records/...`): the bell opens it as it is, and
    e-mails carry it made absolute with the installation's address (`ITPM_BASE_URL`). The e-mail
    goes only to people who take `kind` by e-mail (their preferences).

    `attachments` are the files that go with each person's e-mail, by person id.

    Commits as it goes: an e-mail is claimed (its `ActionRun`, committed)
    before it is sent and marked done after, so a second worker never sends
    it too. Raises `EmailFailed` after trying everyone if some e-mail could
    not be sent; what was sent stays sent, and calling again sends the rest.
    In a session `gathered` for many calls, the in-app notifications are
    written at its end, together (and `Sent.app` does not list them).
    """
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a notification key has at most {MAX_KEY_LENGTH} characters: {key[:60]}...")
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown notification channels: {', '.join(sorted(unknown))}")
    now = now or utcnow()
    sent = Sent()
    failures: dict[int, str] = {}
    mailer = _Mailer(settings) if EMAIL in channels and settings.smtp_host else None
    gathering: dict[str, dict[str, Any]] | None = session.info.get(_GATHERED)
    try:
        for person in people:
            if not person.active:
                continue
            message = compose(subject, body, context, link, language_of(person), settings.base_url)
            row = _notification(person, key, message, link, now)
            if APP in channels and gathering is not None:
                gathering.setdefault(row["key"], row)
            elif APP in channels and _write_notification(session, row):
                sent.app.append(person.id)
            if gathering is None:
                session.commit()
            if mailer is None or not person.email or not wants_email(person, kind):
                continue
            run_key = channel_key(key, EMAIL, person.id)
            if not _claim_email(session, run_key, automation, now):
                continue
            try:
                files = (attachments or {}).get(person.id, ())
                mailer.send(email_message(message, person, settings.smtp_from, run_key, now, files))
            except (smtplib.SMTPException, OSError) as error:
                failures[person.id] = f"{type(error).__name__}: {error}"
                _finish_email(session, run_key, now, failures[person.id])
            else:
                sent.email.append(person.id)
                _finish_email(session, run_key, now)
    finally:
        if mailer is not None:
            mailer.close()
    if failures:
        raise EmailFailed(failures)
    return sent


def _notification(person: Person, key: str, message: Message, link: str, now: dt.datetime) -> dict[str, Any]:
    """The person's in-app notification of `key`, as the values of its row."""
    return {
        "person_id": person.id,
        "key": channel_key(key, APP, person.id),
        "subject": message.subject[:300],
        "body": message.body,
        "link": link,
        "created_at": now,
    }


def _write_notification(session: Session, row: dict[str, Any]) -> bool:
    """Add an in-app notification unless its key is already there; whether it was added."""
    if session.scalar(select(Notification.id).where(Notification.key == row["key"])) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Notification(**row))
    except IntegrityError:
        return False  # another worker wrote it a moment ago
    return True


#: `Session.info` key of the in-app notifications gathered to be written together (`gathered`).
_GATHERED = "itpm_gathered_notifications"


@contextmanager
def gathered(session: Session) -> Iterator[None]:
    """The in-app notifications `notify` makes in `session` meanwhile, written together at the end: one read
    of the keys already there, one INSERT, one commit (a job telling many people of many events), not
    three statements and a commit each. E-mails go as they come, as always.

    Written also when some e-mail failed (`EmailFailed` goes on up); anything else leaves them to the
    job's next run (their keys make each written once)."""
    pending: dict[str, dict[str, Any]] = {}
    session.info[_GATHERED] = pending
    try:
        yield
    except EmailFailed:
        _write_gathered(session, pending)
        raise
    finally:
        session.info.pop(_GATHERED, None)
    _write_gathered(session, pending)


def _write_gathered(session: Session, pending: dict[str, dict[str, Any]]) -> None:
    session.info.pop(_GATHERED, None)
    keys = list(pending)
    there = (
        set(session.scalars(select(Notification.key).where(Notification.key.in_(keys)))) if keys else set()
    )
    rows = [row for key, row in pending.items() if key not in there]
    if rows:
        try:
            with session.begin_nested():  # on failure only the INSERT goes: the callers' writes stay
                session.execute(insert(Notification), rows)
        except IntegrityError:  # another worker wrote some a moment ago: the rest one by one, each once
            for row in rows:
                _write_notification(session, row)
    session.commit()  # as `notify` does after each person: what the callers wrote meanwhile is kept too


def _claim_email(session: Session, run_key: str, automation: str, now: dt.datetime) -> bool:
    """Take the e-mail of `run_key` to send it; False when it was sent or another worker has it."""
    run = session.scalar(
        select(ActionRun).where(ActionRun.key == run_key).execution_options(populate_existing=True)
    )
    if run is None:
        try:
            with session.begin_nested():
                session.add(
                    ActionRun(
                        key=run_key,
                        automation=automation,
                        action=EMAIL,
                        status="running",
                        attempts=1,
                        started_at=now,
                    )
                )
        except IntegrityError:
            return False
        session.commit()
        return True
    if run.status == "done" or (
        run.status == "running" and run.started_at is not None and run.started_at > now - CLAIM_TIMEOUT
    ):
        return False
    # A failed e-mail, or one whose sender vanished: taken by whoever changes the row first.
    taken = session.execute(
        update(ActionRun)
        .where(ActionRun.id == run.id, ActionRun.attempts == run.attempts, ActionRun.status == run.status)
        .values(status="running", started_at=now, attempts=ActionRun.attempts + 1, error="")
    )
    session.commit()
    return taken.rowcount == 1


def _finish_email(session: Session, run_key: str, now: dt.datetime, error: str = "") -> None:
    session.execute(
        update(ActionRun)
        .where(ActionRun.key == run_key)
        .values(status="failed" if error else "done", finished_at=now, error=error)
    )
    session.commit()


def unread_count(session: Session, person_id: int) -> int:
    """The number on the bell."""
    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.person_id == person_id, Notification.read_at.is_(None)
        )
    )


def notifications_of(
    session: Session, person_id: int, *, page: int = 0, per_page: int = 50
) -> list[Notification]:
    """A page of the person's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.person_id == person_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .offset(page * per_page)
            .limit(per_page)
        )
    )


def mark_read(
    session: Session, person_id: int, notification_id: int, now: dt.datetime
) -> Notification | None:
    """The person's notification, read from now on; None when it is not theirs (or not there). Commits."""
    found = session.get(Notification, notification_id)
    if found is None or found.person_id != person_id:
        return None
    if found.read_at is None:
        found.read_at = now
        session.commit()
    return found


def mark_all_read(session: Session, person_id: int, now: dt.datetime) -> int:
    """Every unread notification of the person, read now; how many there were. Commits."""
    changed = session.execute(
        update(Notification)
        .where(Notification.person_id == person_id, Notification.read_at.is_(None))
        .values(read_at=now)
    ).rowcount
    session.commit()
    return changed


class _Mailer:
    """One SMTP connection for the e-mails of one `notify`, opened at the first e-mail."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: smtplib.SMTP | None = None
        #: Why connecting failed: the other e-mails of this call fail the same way without waiting again.
        self.refused: OSError | smtplib.SMTPException | None = None

    def send(self, email: EmailMessage) -> None:
        if self.refused is not None:
            raise self.refused
        if self.connection is None:
            try:
                self.connection = self._connect()
            except (smtplib.SMTPException, OSError) as error:
                self.refused = error
                raise
        self.connection.send_message(email, from_addr=parseaddr(self.settings.smtp_from)[1])

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        connection = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            if settings.smtp_tls:
                connection.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                connection.login(settings.smtp_user, settings.smtp_password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
