"""Prometheus metrics of an installation: what each web process counts (requests, by route), and
what is read from the database and Redis when Prometheus scrapes (queue depth, failed and retried
jobs and actions, outbox lag, SLA breaches), so that workers on other machines are counted too.

Several gunicorn processes: set PROMETHEUS_MULTIPROC_DIR to an empty folder for them all before they
start (prometheus_client's multiprocess mode); each scrape then adds up every process's counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from itpm.db import utcnow
from itpm.models import ActionRun, OutboxEvent

log = logging.getLogger(__name__)

#: The route is the URL rule (`/records/incident/show/<pk>`), never the path: a label per record would
#: grow without end. A path no rule matches is `unmatched`.
REQUEST_SECONDS = Histogram(
    "itpm_http_request_duration_seconds",
    "Time to answer a request, by method and route (the URL rule).",
    ["method", "route"],
)
#: Where a request's time goes: waiting for the database (its SQL statements, sent until answered) and
#: rendering page templates; the rest of its duration is Python (views, services, access, forms).
REQUEST_DATABASE_SECONDS = Histogram(
    "itpm_http_request_database_seconds",
    "Time a request spent waiting for the database (its SQL statements), by method and route.",
    ["method", "route"],
)
REQUEST_RENDER_SECONDS = Histogram(
    "itpm_http_request_render_seconds",
    "Time a request spent rendering page templates, by method and route.",
    ["method", "route"],
)
REQUESTS = Counter(
    "itpm_http_requests", "Requests answered, by method, route and status.", ["method", "route", "status"]
)


def observe_request(
    method: str,
    route: str,
    status: int,
    seconds: float,
    database_seconds: float = 0.0,
    render_seconds: float = 0.0,
) -> None:
    REQUEST_SECONDS.labels(method, route).observe(seconds)
    REQUEST_DATABASE_SECONDS.labels(method, route).observe(database_seconds)
    REQUEST_RENDER_SECONDS.labels(method, route).observe(render_seconds)
    REQUESTS.labels(method, route, str(status)).inc()


class InstallationCollector(Collector):
    """What the database and Redis say at the moment of the scrape (every process sees the same)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "itpm_database_up", "Whether the database answered this scrape (1) or not (0)."
        )
        try:
            figures = list(self._database())
        except Exception as error:  # noqa: BLE001 - the database away: say so, keep the rest of the scrape
            log.warning("metrics: the database is unreachable: %s", error)
            up.add_metric([], 0)
            figures = [up]
        else:
            up.add_metric([], 1)
            figures.insert(0, up)
        yield from figures
        if self.runtime.settings.redis_url and self.runtime.settings.jobs in ("auto", "rq"):
            yield from self._queue()

    def _database(self) -> Iterator[Metric]:
        now = utcnow()
        with self.runtime.session() as session:
            unhandled, oldest = session.execute(
                select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.handled_at.is_(None))
            ).one()
            breaches = session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.kind == "sla_breach")
            )
            actions = dict(
                session.execute(
                    select(ActionRun.status, func.count())
                    .where(ActionRun.status.in_(("pending", "failed")), ActionRun.due_at.is_not(None))
                    .group_by(ActionRun.status)
                ).all()
            )
            given_up = session.scalar(
                select(func.count())
                .select_from(ActionRun)
                .where(ActionRun.status == "failed", ActionRun.due_at.is_(None))
            )
        if oldest is not None and oldest.tzinfo is None:  # SQLite's min() comes back as text, naive
            oldest = oldest.replace(tzinfo=now.tzinfo)
        yield GaugeMetricFamily(
            "itpm_outbox_unhandled_events", "Outbox events no automation has handled yet.", value=unhandled
        )
        yield GaugeMetricFamily(
            "itpm_outbox_lag_seconds",
            "Age of the oldest outbox event not handled yet (0: none waits).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0,
        )
        yield CounterMetricFamily(
            "itpm_sla_breaches", "SLA breaches recorded (sla_breach events in the outbox).", value=breaches
        )
        family = GaugeMetricFamily(
            "itpm_automation_actions",
            "Automation actions not done: delayed (waiting for their time), retrying (failed, retried "
            "later), failed (attempts used up; retried by an admin on the Jobs page).",
            labels=["state"],
        )
        family.add_metric(["delayed"], actions.get("pending", 0))
        family.add_metric(["retrying"], actions.get("failed", 0))
        family.add_metric(["failed"], given_up or 0)
        yield family

    def _queue(self) -> Iterator[Metric]:
        from rq.registry import (
            DeferredJobRegistry,
            FailedJobRegistry,
            ScheduledJobRegistry,
            StartedJobRegistry,
        )
        from rq.worker import Worker

        from itpm.automations.queue import QUEUE, rq_queue

        up = GaugeMetricFamily("itpm_redis_up", "Whether Redis answered this scrape (1) or not (0).")
        try:
            queue = rq_queue(self.runtime.settings.redis_url)
            try:
                depth = queue.count
                states = {
                    "started": StartedJobRegistry(queue=queue).count,
                    "scheduled": ScheduledJobRegistry(queue=queue).count,  # retries waiting for their time
                    "deferred": DeferredJobRegistry(queue=queue).count,
                    "failed": FailedJobRegistry(queue=queue).count,
                }
                workers = Worker.count(queue=queue)
            finally:
                queue.connection.close()
        except Exception as error:  # noqa: BLE001 - Redis away: say so, keep the rest of the scrape
            log.warning("metrics: Redis is unreachable: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _gauge("itpm_rq_queue_depth", "Jobs waiting on the RQ queue.", {QUEUE: depth}, "queue")
        family = GaugeMetricFamily(
            "itpm_rq_jobs",
            "RQ jobs by state: started (running), scheduled (retries waiting for their time), deferred, "
            "failed (retries used up; kept a week).",
            labels=["queue", "state"],
        )
        for state, count in states.items():
            family.add_metric([QUEUE, state], count)
        yield family
        yield GaugeMetricFamily("itpm_rq_workers", "RQ workers listening on the queue.", value=workers)


def _gauge(name: str, documentation: str, values: dict[str, float], label: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def exposition(runtime: Any) -> bytes:
    """The text Prometheus reads: this process's (or, in multiprocess mode, every process's) counts,
    then the installation's state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    state = CollectorRegistry()
    state.register(InstallationCollector(runtime))
    return counted + generate_latest(state)
