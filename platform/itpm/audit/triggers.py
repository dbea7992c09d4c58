"""Capture below the ORM on PostgreSQL: row triggers on the audited tables.

Every insert, update and delete of a record table (rec_*) and of the other
audited tables appends an entry to itpm_audit in the same transaction, by
whatever path it came (the records service, a bulk insert, direct SQL), with
the person, address and request the application gives (as it seals the transaction's entries, or set
beforehand as `itpm.actor` ..., see `itpm.audit.capture`); a change made outside
the application names the database role. itpm_audit itself refuses updates
(but the one that seals an entry) and deletes. SQLite has no such triggers:
`itpm.audit.capture` writes the same entries from the ORM there.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from itpm.audit import chain
from itpm.definitions.checks import Configuration
from itpm.records.fields import RecordTypeSpec

#: Columns never copied into an audit entry: secrets, counters and stamps that change with every save.
#: A record's SLA summary (`itpm.sla.tickets`) is read from its clocks again as time passes; refreshing
#: it is not a change of the record (its version and history stay), so it is no entry either.
IGNORED_COLUMNS = {
    "record": (
        "version",
        "updated_at",
        "updated_by_id",
        "sla_next_check",
        "flags",
        "sla_clocks",
        "sla_due",
        "sla_breached",
        "sla_status",
    ),
    "user": ("password", "last_login", "login_count", "fail_login_count", "changed_on", "changed_by_fk"),
}

#: Columns holding personal data, by kind, with the column naming whom they are about: their values in
#: an entry are sealed under that person's key (`itpm.privacy.keys`). A record table's come from its
#: record type's `x-personal` fields and `subject` (the table's `info["personal"]`).
PERSONAL_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "user": (
        ("away_until", "email", "first_name", "last_name", "leave", "locale", "skills", "timezone", "username",
         "weekly_hours"),
        "id",
    ),
    "comment": (("author", "body"), "author_id"),
    "file": (("filename", "uploaded_by"), "uploaded_by_id"),
    "approval_task": (("comment", "decided_by"), "decided_by_id"),
    "privacy_request": (("reason",), "person_id"),
}  # fmt: skip

#: Audited tables (other than rec_*) and the kind of object each holds.
AUDITED_TABLES = {
    "itpm_comment": "comment",
    "itpm_file": "file",
    "itpm_definition_version": "definition_version",
    "itpm_approval_task": "approval_task",
    "ab_user": "user",
    "ab_role": "role",
    "ab_user_role": "user_role",
    "ab_permission_view_role": "role_permission",
    "itpm_department": "department",
    "itpm_team": "team",
    "itpm_privacy_request": "privacy_request",
}

RECORD_PREFIX = "rec_"

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION itpm_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind text := TG_ARGV[0];
  subject_column text := TG_ARGV[1];
  personal text[] := string_to_array(nullif(TG_ARGV[2], ''), ',');
  ignored text[] := TG_ARGV[3:];
  old_row jsonb;
  new_row jsonb;
  changes jsonb;
  detail jsonb;
  marked text[];
  subject jsonb;
  erasing text := nullif(current_setting('itpm.erasing', true), '');
  object_id text;
  target_name text;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD) - ignored; END IF;
  IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW) - ignored; END IF;
  SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(old_row -> key, new_row -> key)), '{}'::jsonb)
    INTO changes
    FROM (SELECT jsonb_object_keys(coalesce(new_row, old_row)) AS key) AS keys
   WHERE (old_row -> key) IS DISTINCT FROM (new_row -> key)
     AND NOT (coalesce(old_row -> key, 'null'::jsonb) = 'null'::jsonb
              AND coalesce(new_row -> key, 'null'::jsonb) = 'null'::jsonb);
  IF TG_OP = 'UPDATE' AND changes = '{}'::jsonb THEN
    RETURN NULL;
  END IF;
  object_id := coalesce(new_row, old_row) ->> 'id';
  IF kind = 'record' THEN
    target_name := substr(TG_TABLE_NAME, 5) || '/' || object_id;
  ELSE
    target_name := kind || '/' || coalesce(object_id, '');
  END IF;
  detail := jsonb_build_object('table', TG_TABLE_NAME, 'changes', changes);
  -- personal values: marked here, sealed under their subject's key before the entry is chained; an
  -- erasure's own changes are all sealed under the erased person's key (destroyed at its end)
  IF erasing IS NOT NULL THEN
    marked := ARRAY(SELECT key FROM jsonb_object_keys(changes) AS key ORDER BY key);
    subject := to_jsonb(erasing::integer);
  ELSIF personal IS NOT NULL THEN
    marked := ARRAY(SELECT key FROM jsonb_object_keys(changes) AS key WHERE key = ANY(personal) ORDER BY key);
    subject := coalesce(new_row, old_row) -> subject_column;
  END IF;
  IF cardinality(marked) > 0 THEN
    detail := detail || jsonb_build_object('personal', jsonb_build_object('subject', subject, 'columns', to_jsonb(marked)));
  END IF;
  INSERT INTO itpm_audit (at, actor, action, target, detail, address, request)
  VALUES (
    clock_timestamp() AT TIME ZONE 'UTC',
    coalesce(nullif(current_setting('itpm.actor', true), ''), 'database:' || session_user),
    kind || '.' || CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
    left(target_name, 200),
    detail,
    nullif(current_setting('itpm.address', true), ''),
    coalesce(nullif(current_setting('itpm.request', true), ''), 'sql:' || txid_current())
  );
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION itpm_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.seq IS NULL
     AND (to_jsonb(NEW) - ARRAY['seq', 'prev_hash', 'hash', 'detail', 'actor', 'address', 'request'])
       = (to_jsonb(OLD) - ARRAY['seq', 'prev_hash', 'hash', 'detail', 'actor', 'address', 'request'])
     AND ((NEW.actor, NEW.address, NEW.request) IS NOT DISTINCT FROM (OLD.actor, OLD.address, OLD.request)
          OR OLD.request = 'sql:' || txid_current()) THEN
    -- sealing: personal values encrypted, then the chain's fields set, once; an entry this transaction's
    -- triggers wrote with no context takes the one the application gives as it seals (itpm_audit_seal)
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _row_trigger(table: str, kind: str, personal: tuple[tuple[str, ...], str] | None = None) -> str:
    columns, subject = personal or PERSONAL_COLUMNS.get(kind) or ((), "")
    values = (kind, subject, ",".join(columns), *IGNORED_COLUMNS.get(kind, ()))
    arguments = ", ".join(f"'{value}'" for value in values)
    return (
        f'DROP TRIGGER IF EXISTS itpm_audit ON "{table}";'
        f' CREATE TRIGGER itpm_audit AFTER INSERT OR UPDATE OR DELETE ON "{table}"'
        f" FOR EACH ROW EXECUTE FUNCTION itpm_audit_row({arguments});"
    )


def install(
    connection: Connection, personal: dict[str, tuple[tuple[str, ...], str] | None] | None = None
) -> None:
    """The functions, and the triggers on every audited table present (idempotent). `personal`: a record
    table's personal columns and subject column, by table (`record_personal`)."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text(FUNCTIONS))
    connection.execute(text(chain.SEAL_FUNCTION))
    for table in ("itpm_audit", "itpm_audit_checkpoint"):
        connection.execute(
            text(
                f"DROP TRIGGER IF EXISTS itpm_append_only ON {table};"
                f" CREATE TRIGGER itpm_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION itpm_audit_append_only();"
                f" DROP TRIGGER IF EXISTS itpm_no_truncate ON {table};"
                f" CREATE TRIGGER itpm_no_truncate BEFORE TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION itpm_audit_append_only();"
            )
        )
    present = set(
        connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
    )
    for table in sorted(present):
        kind = "record" if table.startswith(RECORD_PREFIX) else AUDITED_TABLES.get(table)
        if kind:
            connection.execute(text(_row_trigger(table, kind, (personal or {}).get(table))))


def record_personal(configuration: Configuration) -> dict[str, tuple[tuple[str, ...], str] | None]:
    """Each record table's personal columns and the column naming their subject (None: no personal field)."""
    tables = {}
    for document in configuration.of_kind("record_type"):
        spec = RecordTypeSpec(document.body)
        columns = tuple(sorted(spec.fields[name].column for name in spec.personal_fields))
        tables[spec.table_name] = (columns, spec.subject_column) if columns else None
    return tables


def publish_hook(session: Session, before: Configuration, after: Configuration) -> None:
    """After a publish: triggers for the record tables it created, and again for those whose personal
    fields changed (altered tables keep theirs otherwise)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    was, now = record_personal(before), record_personal(after)
    for table, personal in now.items():
        if table in was and was[table] != personal:
            connection.execute(text(_row_trigger(table, "record", personal)))
    missing = connection.scalars(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'rec\\_%'"
            " AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'itpm_audit')"
        )
    ).all()
    for table in missing:
        connection.execute(text(_row_trigger(table, "record", now.get(table))))
