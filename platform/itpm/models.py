"""The engine's own tables: definitions and their versions, revisions, the audit
log, departments and teams, and what every record has beside its own fields
(history, comments, files, number sequences).

Record tables are not here: they are generated per definitions revision
(see `itpm.records.store`). Flask-AppBuilder's security tables (ab_*) are
FAB's models, the user extended with where a person belongs; Alembic creates
all of them (migrations/).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_appbuilder.security.sqla.models import User as FabUser
from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itpm.db import Base, JSONType, UTCDateTime, utcnow


class Revision(Base):
    """One step of the whole configuration: every publish makes one."""

    __tablename__ = "itpm_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")


class Definition(Base):
    """A definition by kind and name: its editable draft and its published version."""

    __tablename__ = "itpm_definition"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(64))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    title_zh: Mapped[str] = mapped_column(String(200), default="")
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    draft_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    draft_updated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The text a pack (the starter pack, an imported folder) last brought: while the live
    #: version is this text, no admin changed it and a newer pack may replace it.
    pack_body: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[DefinitionVersion]] = relationship(
        back_populates="definition",
        order_by="DefinitionVersion.version",
        cascade="all, delete-orphan",
    )

    @property
    def state(self) -> str:
        """draft (never published), published, or changed (published, with a newer draft)."""
        if self.published_version is None:
            return "draft"
        return "changed" if self.draft is not None else "published"

    @property
    def pack_update(self) -> str | None:
        """Whose newer text waits as the draft beside the live version: "starter pack", or "pack"
        (an imported folder); None when the draft, if any, is an admin's."""
        if self.draft is None or self.published_version is None or self.draft != self.pack_body:
            return None
        return "starter pack" if self.draft_updated_by == "system" else "pack"

    @property
    def status(self) -> str:
        """The state as the definitions list shows it: a pack's update apart from an admin's draft."""
        update = self.pack_update
        return (
            {"starter pack": "starter_pack_update", "pack": "pack_update"}[update] if update else self.state
        )

    @property
    def titles(self) -> dict[str, str]:
        return {"en": self.title_en, "zh": self.title_zh}

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    def __repr__(self) -> str:
        return f"<Definition {self.key} v{self.published_version}>"

    def __str__(self) -> str:
        return self.key


class DefinitionVersion(Base):
    """An immutable published version of a definition."""

    __tablename__ = "itpm_definition_version"
    __table_args__ = (UniqueConstraint("definition_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("itpm_definition.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    revision_id: Mapped[int] = mapped_column(ForeignKey("itpm_revision.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)

    definition: Mapped[Definition] = relationship(back_populates="versions")
    revision: Mapped[Revision] = relationship()


class AuditEntry(Base):
    """Who did what to which object, when, from where and why. Appended, never changed: once sealed
    into the hash chain (`itpm.audit.chain`) its `seq`, `prev_hash` and `hash` are set, and nothing else."""

    __tablename__ = "itpm_audit"
    __table_args__ = (
        Index(
            "ix_itpm_audit_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: The network address the request came from (None: a job, the command line, the database).
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Why: the request ("req:<id>") or job ("job:<id>") that made the change.
    request: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: The entry's place in the chain, the hash of the entry before it and its own (None: not sealed yet).
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditCheckpoint(Base):
    """The chain's head at a moment, signed with the installation's Ed25519 key (kept outside the database)."""

    __tablename__ = "itpm_audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    #: Hex of the public key that signs, and of the signature over `itpm.audit.signing.message`.
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class PersonalKey(Base):
    """A person's key: their personal values in the audit log are sealed under it (`itpm.privacy.keys`).
    Their erasure deletes it, which leaves those values unreadable and every hash of the chain as it was."""

    __tablename__ = "itpm_personal_key"

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: Base64 of 32 random bytes: an AES-256-GCM key.
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrivacyRequest(Base):
    """A subject-access export or an erasure asked for one person by an admin (`itpm.privacy`).

    An erasure waits for a second admin's approval (never the requester's); once done, this row is the
    record of it, naming the person only by their id and pseudonym. An export is made by a job and
    kept as a file for admins to download."""

    __tablename__ = "itpm_privacy_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: export or erasure
    kind: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    #: awaiting_approval (an erasure), queued (an export), running, done, rejected, failed
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The export's zip (an export), kept under the instance folder like an attachment.
    file_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: What was done: counts of records, comments, files, notifications... (no personal value).
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Department(Base):
    """A department of the company; records and people belong to one, pilots run in one."""

    __tablename__ = "itpm_department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))

    @property
    def titles(self) -> dict[str, str]:
        return {"en": self.title_en, "zh": self.title_zh}

    def __str__(self) -> str:
        return self.title_en


class Team(Base):
    """A team within a department."""

    __tablename__ = "itpm_team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("itpm_department.id"), nullable=True)

    department: Mapped[Department | None] = relationship()

    @property
    def titles(self) -> dict[str, str]:
        return {"en": self.title_en, "zh": self.title_zh}

    def __str__(self) -> str:
        return self.title_en


class Person(FabUser):
    """A person's account (Flask-AppBuilder's user), with where they belong and how they read."""

    __tablename__ = "ab_user"
    __table_args__ = {"extend_existing": True}

    department_id: Mapped[int | None] = mapped_column(ForeignKey(Department.id), nullable=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey(Team.id), nullable=True)
    #: For a client's user: the id of their organisation's `customer` record.
    client_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: What the person is good at, for assignment by skill: ["network", "oracle", ...]
    skills: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    #: Away (leave, travel) until this day, included: not assigned new work meanwhile.
    away_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: Hours a week the person gives to planned work (None: the company's usual 40).
    weekly_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Leave ahead, as people write it: "2026-12-10..2026-12-14, 2027-01-04" (`itpm.planning.workload.parse_leave`).
    leave: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Raised when the person signs out or their password changes: sessions and tokens carry the
    #: generation they were made in, and stop working once it is raised (`itpm.web.sign_in`).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The kinds of notification the person takes by e-mail (`itpm.notifications.KINDS`); None: all.
    email_kinds: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)

    department: Mapped[Department | None] = relationship(Department, foreign_keys=[department_id])
    team: Mapped[Team | None] = relationship(Team, foreign_keys=[team_id])


class RecordEvent(Base):
    """One entry of a record's history: created, changed (field by field), moved, deleted."""

    __tablename__ = "itpm_history"
    __table_args__ = (Index("ix_itpm_history_record", "record_type", "record_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(40))
    #: [{"path": "/data/priority", "old": ..., "new": ...}]
    changes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: What a person said with it: a transition's or an approval decision's comment.
    note: Mapped[str] = mapped_column(Text, default="")


class Comment(Base):
    __tablename__ = "itpm_comment"
    __table_args__ = (Index("ix_itpm_comment_record", "record_type", "record_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True)
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: An internal comment: for the company's staff only, never shown or told to a client's user.
    internal: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class StoredFile(Base):
    """A file attached to a record, kept under the instance folder by its content hash."""

    __tablename__ = "itpm_file"
    __table_args__ = (Index("ix_itpm_file_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    field: Mapped[str | None] = mapped_column(String(40), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True
    )
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A report PDF: the actor whose permissions it was rendered with (`Actor.as_json`); only
    #: readers who see at least as much may download it. None for an uploaded attachment.
    rendered_as: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class Sequence(Base):
    """The last number given out per numbering key (a record type and a period)."""

    __tablename__ = "itpm_sequence"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class ApprovalRequest(Base):
    """A transition waiting for its approval chain: one per request, with its steps' decisions."""

    __tablename__ = "itpm_approval"
    __table_args__ = (Index("ix_itpm_approval_record", "record_type", "record_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    transition: Mapped[str] = mapped_column(String(40))
    #: pending, approved, rejected or withdrawn
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    #: The index of the step deciding now, in the transition's chain.
    step: Mapped[int] = mapped_column(Integer, default=0)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True
    )
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    #: Why it was rejected (a rejection needs a reason).
    reason: Mapped[str] = mapped_column(Text, default="")
    #: Field values given with the request, written when the transition completes.
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    tasks: Mapped[list[ApprovalTask]] = relationship(back_populates="approval", order_by="ApprovalTask.id")


class ApprovalTask(Base):
    """One approver's part in one step of an approval: pending until they (or their delegate) decide."""

    __tablename__ = "itpm_approval_task"
    __table_args__ = (Index("ix_itpm_approval_task_approver", "approver_id", "decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("itpm_approval.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    step_name: Mapped[str] = mapped_column(String(40))
    approver_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"))
    #: pending, approved, rejected, or closed (the step was decided without them)
    decision: Mapped[str] = mapped_column(String(20), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True
    )
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    #: When the step is escalated if nobody has decided (None: never).
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How the approver was chosen: role, field, users, manager, or escalation.
    via: Mapped[str] = mapped_column(String(20))

    approval: Mapped[ApprovalRequest] = relationship(back_populates="tasks")


class Delegation(Base):
    """A person hands their approvals to another for a range of days."""

    __tablename__ = "itpm_delegation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"), index=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """Something that happened to a record, written in the same transaction; automations act on it."""

    __tablename__ = "itpm_outbox"
    #: SLA breaches are counted for /metrics (`itpm.metrics`) without reading every event.
    __table_args__ = (
        Index(
            "ix_itpm_outbox_sla_breach",
            "created_at",
            postgresql_where=text("kind = 'sla_breach'"),
            sqlite_where=text("kind = 'sla_breach'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: created, updated, deleted, transition, approval, sla_warning, sla_breach
    kind: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    record_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: How many events led to this one (automations reacting to automations stop at a limit).
    depth: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    #: The request (X-Request-ID) or job that saved it: its jobs and their log lines carry it.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ActionRun(Base):
    """One action of one automation for one event (or schedule tick), done at most once by its key."""

    __tablename__ = "itpm_action_run"
    __table_args__ = (Index("ix_itpm_action_run_last", "automation", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: event id or schedule moment, automation, action index: the idempotency key
    key: Mapped[str] = mapped_column(String(200), unique=True)
    automation: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: pending (delayed), running, done, failed
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    #: What the action needs to run again (a delayed one, or a retry): automation, action, record
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Notification(Base):
    """An in-app notification: the bell's unread count, and the list behind it."""

    __tablename__ = "itpm_notification"
    __table_args__ = (Index("ix_itpm_notification_person", "person_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """One outbound webhook call and its attempts: the delivery log."""

    __tablename__ = "itpm_webhook_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(1000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: pending, delivered, failed (attempts used up)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReportRequest(Base):
    """A person's request for a report PDF, rendered by the jobs as that person and kept as a file."""

    __tablename__ = "itpm_report_request"
    __table_args__ = (Index("ix_itpm_report_request_person", "requested_by_id", "report"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[str] = mapped_column(String(64))
    #: The parameters' values as checked when asked (an empty month already the month of that day).
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    lang: Mapped[str] = mapped_column(String(8))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"))
    #: queued, running, done, failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    file_id: Mapped[int | None] = mapped_column(ForeignKey(StoredFile.id, ondelete="SET NULL"), nullable=True)
    #: How often a job took it up (a job that died half-way leaves it to the next).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When it was put on the RQ queue (None: not yet, or to be put there again).
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    file: Mapped[StoredFile | None] = relationship(StoredFile)


class IntegrationToken(Base):
    """A long-lived key of one integration (`itpm.integrations.tokens`): only its SHA-256 is kept.

    It acts as its service person, within its scope: record type -> actions.
    """

    __tablename__ = "itpm_integration_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(64), index=True)
    #: SHA-256 (hex) of the whole token: found by it, compared in constant time.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: The token's first characters, to tell tokens apart on screens (not enough to use one).
    prefix: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey(FabUser.id, ondelete="CASCADE"))
    #: {"incident": ["read", "create", "write"], "customer": ["read"]}
    scope: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    person: Mapped[Person] = relationship(Person)


class IntegrationItem(Base):
    """What an integration delivered once, by its key: the record it became and where it stands.

    The unique (integration, key) is what makes a retried or concurrent delivery find the first
    one's record instead of making another (an alert by its fingerprint and start; a client by
    its ERP id).
    """

    __tablename__ = "itpm_integration_item"
    __table_args__ = (
        UniqueConstraint("integration", "key"),
        Index("ix_itpm_integration_item_group", "integration", "group_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(500))
    #: What a new key may continue (an alert's fingerprint: it fires again after resolving).
    group_key: Mapped[str] = mapped_column(String(500), default="")
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: firing or resolved (alerts); upserted (webhooks)
    status: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Deliveries after the first (repeats and retries).
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportRun(Base):
    """One import of a CSV or XLSX file into a record type: what was asked, how far it got, what came of it.

    The file is kept under the instance folder by its hash; `done_rows` is the
    checkpoint (rows of the file committed), so a run stopped half-way goes on
    from there (`itpm.records.imports`).
    """

    __tablename__ = "itpm_import"
    __table_args__ = (Index("ix_itpm_import_person", "requested_by_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    #: csv or xlsx; the encoding a CSV was read in.
    format: Mapped[str] = mapped_column(String(8))
    encoding: Mapped[str] = mapped_column(String(20), default="")
    #: The mapping used: {"columns": {header: field}, "values": {field: {alias: value}}}.
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: The business key: a unique field (or `number`) that makes a row update its record.
    key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    run_automations: Mapped[bool] = mapped_column(Boolean, default=False)
    #: queued, running, done, failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    #: The checkpoint: rows of the file whose outcome is committed.
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: The first problems found: [{"row", "column", "field", "message"}].
    problems: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey(FabUser.id, ondelete="SET NULL"), nullable=True
    )
    requested_by: Mapped[str] = mapped_column(String(128))
    #: The actor the rows are written as (`Actor.as_json`), so a worker writes with their rights only.
    actor: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When the last chunk was committed (a run whose heartbeat stops was abandoned).
    beat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Seconds spent writing (over every attempt): rows per second and the time left come from it.
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ImportMapping(Base):
    """A mapping of a file's columns (and value aliases) onto a record type's fields, saved by name."""

    __tablename__ = "itpm_import_mapping"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    record_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class IssuedForecast(Base):
    """A finish-date forecast as it was issued (`itpm.forecast`): kept so that, once the project
    finishes, the backtest can say how often the P50, P85 and P95 dates were met. One a project a day."""

    __tablename__ = "itpm_forecast"
    __table_args__ = (UniqueConstraint("project_type", "project_id", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_type: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The project's kind (the starter pack's project_type field), for the backtest by kind.
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    as_of: Mapped[dt.date] = mapped_column(Date)
    #: ok, done, not_enough_history, no_finish
    status: Mapped[str] = mapped_column(String(24))
    p50: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    p85: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    p95: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    on_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The naive forecasts of the same day: the planned finish, percent complete extrapolated.
    planned: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    linear: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    #: What it was made from: weeks, weeks_with_work, window, source, prior_projects, runs, seed,
    #: throughput, growth, percent_complete.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
