"""The engine's own tables: definitions with their versions, revisions, audit log.

Record tables are not here: they are generated per definitions revision
(see `itpm.records.store`). Flask-AppBuilder's security tables (ab_*) are
FAB's models; Alembic creates all of them (migrations/).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
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
    """Who did what to which object, and when. Appended, never changed."""

    __tablename__ = "itpm_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
