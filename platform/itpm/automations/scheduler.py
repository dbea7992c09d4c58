"""The scheduler's tick: what is due by the clock rather than by an event.

Each tick covers the time since the last one, (since, now]: scheduled
automations whose cron moment fell in it, delayed actions and retries whose
time has come, SLA clocks that reach a warning or a target, approvals left
waiting past their deadline, webhook deliveries due for another attempt, the
daily digests, and (once a day) the record types' retention rules. Everything
it starts has an idempotency key, so a tick run twice over the same time (two
schedulers, a restart) does each thing once;
with Redis a lock still keeps ticks one at a time across workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from sqlalchemy import select

from itpm.access import Actor
from itpm.audit.signing import daily_checkpoint
from itpm.automations.digest import send_digests
from itpm.automations.engine import Automations
from itpm.automations.notices import send_nps_surveys
from itpm.forecast.backtest import nightly as nightly_forecasts
from itpm.models import ActionRun, WebhookDelivery
from itpm.privacy.retention import daily_retention
from itpm.records.service import Records
from itpm.sla.tickets import refresh_clocks
from itpm.webhooks import retry_due
from itpm.workflows.engine import Workflows

log = logging.getLogger(__name__)

#: How many records' SLA clocks one tick reads at most per record type (the next tick does the rest).
SLA_BATCH = 500


def tick(runtime: Any, since: dt.datetime, now: dt.datetime) -> dict[str, int]:
    """Do what fell due in (since, now]; how many of each thing were done."""
    automations = Automations(runtime, clock=lambda: now)
    done = {
        "schedules": automations.run_schedules(since, now),
        "delayed_actions": automations.run_due_actions(),
        "sla_checks": check_clocks(runtime, now),
        "approvals_escalated": escalate_approvals(runtime, now),
        "webhook_retries": retry_webhooks(runtime, now),
        "digests": send_digests(runtime, since, now),
        "nps_surveys": send_nps_surveys(runtime, since, now),
        "audit_checkpoints": daily_checkpoint(runtime.engine, now),
        "forecasts": nightly_forecasts(runtime, since, now),
        "retention": daily_retention(runtime, since, now),
    }
    if any(done.values()):
        log.info("scheduler tick %s: %s", now.isoformat(timespec="seconds"), done)
    return done


def check_clocks(runtime: Any, now: dt.datetime) -> int:
    """Read again the SLA clocks of records whose next check has come (warnings and breaches go out)."""
    catalog = runtime.catalog()
    checked = 0
    for type_name in catalog.sla_policies:
        if type_name not in catalog.record_types:
            continue
        with runtime.session() as session:
            model = catalog.models.models[type_name]
            ids = list(
                session.scalars(
                    select(model.id)
                    .where(model.sla_next_check.is_not(None), model.sla_next_check <= now)
                    .order_by(model.sla_next_check)
                    .limit(SLA_BATCH)
                )
            )
        for record_id in ids:
            with runtime.session() as session:
                records = Records(
                    session, catalog, Actor.system(), clock=lambda: now, timezone=runtime.settings.timezone
                )
                record = session.get(catalog.models.models[type_name], record_id)
                if record is None:
                    continue
                refresh_clocks(records, record, now)
                session.commit()
                checked += 1
    return checked


def escalate_approvals(runtime: Any, now: dt.datetime) -> int:
    with runtime.session() as session:
        records = Records(
            session, runtime.catalog(), Actor.system(), clock=lambda: now, timezone=runtime.settings.timezone
        )
        escalated = Workflows(records).escalate_overdue(now)
        session.commit()
        return escalated


def retry_webhooks(runtime: Any, now: dt.datetime) -> int:
    catalog = runtime.catalog()

    def secret_for(delivery: WebhookDelivery) -> str | None:
        """The secret of the automation action that made the delivery (its key is the action's key)."""
        spec = session.scalar(select(ActionRun.spec).where(ActionRun.key == delivery.key)) or {}
        automation = catalog.automations.get(spec.get("automation", ""))
        if automation is None or spec.get("index", -1) >= len(automation.actions):
            return None
        name = automation.actions[spec["index"]].get("secret_env")
        return os.environ.get(name) if name else None

    with runtime.session() as session:
        return retry_due(session, now, secret_for, allow=runtime.settings.webhook_allow)
