"""Where KPI answers are kept between requests, and when a kept answer goes stale.

A kept answer's key (`itpm.kpis.service.cache_key`) carries the generation of
the record table it counts: a number bumped when a transaction that wrote to
that table commits (the writes are seen by the session's `after_flush` and
`do_orm_execute` events: ORM changes, Core inserts, updates and deletes, the
SLA clocks' own updates). So no answer is served once the records it counted
have changed, and a change to tasks leaves the incident answers kept. A session
with uncommitted writes to a table measures that table's KPIs afresh (it must
see its own writes; nobody else may be served them).

The embedded default keeps answers and generations in this process. When jobs
run on RQ (`ITPM_REDIS_URL` set, `ITPM_JOBS` not `thread`) they are kept in
Redis, shared by every web process, worker and command of the installation.
Redis not answering means measuring afresh, never a wrong answer: a generation
that cannot be read is no key at all. Answers also expire after `TTL` seconds
(a person moved to another team changes a team's rows without writing a record).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from itpm.models import RecordEvent

TTL = 300.0
LIMIT = 5000
#: The session's record tables written in its open transaction (`session.info`).
WRITTEN = "itpm_kpi_tables_written"
log = logging.getLogger(__name__)


class Answers(Protocol):
    """Kept answers by key."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, answer: Any) -> None: ...


class AnswerCache:
    """Answers by key, in this process, the least recently used dropped beyond `limit`."""

    def __init__(self, ttl: float = TTL, limit: int = LIMIT) -> None:
        self.ttl, self.limit = ttl, limit
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[0] > self.ttl:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: str, answer: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), answer)
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class RedisAnswerCache:
    """Answers by key in Redis (pickled, as RQ keeps its jobs), expiring after `ttl` seconds.
    A Redis that does not answer is a miss, and a put that fails is forgotten."""

    def __init__(self, redis: Any, prefix: str, ttl: float = TTL) -> None:
        self.redis, self.prefix, self.ttl = redis, prefix, int(ttl)
        self.hits = self.misses = 0

    def get(self, key: str) -> Any | None:
        try:
            found = self.redis.get(f"{self.prefix}answer:{key}")
        except Exception as error:  # a cache that cannot answer is a miss
            log.warning("KPI cache: Redis did not answer (%s)", error)
            found = None
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return pickle.loads(found)

    def put(self, key: str, answer: Any) -> None:
        try:
            self.redis.set(f"{self.prefix}answer:{key}", pickle.dumps(answer), ex=self.ttl)
        except Exception as error:
            log.warning("KPI cache: Redis did not keep an answer (%s)", error)

    def clear(self) -> None:
        for key in self.redis.scan_iter(f"{self.prefix}answer:*"):
            self.redis.delete(key)


class Generations:
    """How many committed transactions have written each record table, in this process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def read(self, table: str) -> int | None:
        with self._lock:
            return self._counts[table]

    def bump(self, tables: Iterable[str]) -> None:
        with self._lock:
            for table in tables:
                self._counts[table] += 1


class RedisGenerations(Generations):
    """The same counts in Redis, shared by every process of the installation (None: Redis did not answer)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix

    def read(self, table: str) -> int | None:
        try:
            return int(self.redis.get(f"{self.prefix}generation:{table}") or 0)
        except Exception as error:
            log.warning("KPI cache: Redis did not answer (%s)", error)
            return None

    def bump(self, tables: Iterable[str]) -> None:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for table in tables:
                    pipe.incr(f"{self.prefix}generation:{table}")
                pipe.execute()
        except Exception as error:  # kept answers then live until their TTL
            log.warning("KPI cache: Redis did not count a change of %s (%s)", sorted(tables), error)


class Kept:
    """The answers and generations of one installation's database."""

    def __init__(self, answers: Answers, generations: Generations) -> None:
        self.answers, self.generations = answers, generations


#: What each runtime's engine keeps (`install`).
_KEPT: weakref.WeakKeyDictionary[Engine, Kept] = weakref.WeakKeyDictionary()


def kept_for(settings: Any) -> Kept:
    """Redis when jobs run on RQ, else this process."""
    if settings.redis_url and settings.jobs != "thread":
        from redis import Redis

        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
        prefix = "itpm:kpis:" + hashlib.sha256(settings.database_url.encode()).hexdigest()[:12] + ":"
        return Kept(RedisAnswerCache(redis, prefix), RedisGenerations(redis, prefix))
    return Kept(AnswerCache(), Generations())


def install(factory: Any, engine: Engine, kept: Kept) -> None:
    """Count the record tables the sessions of `factory` write, and bump their generations on commit."""
    _KEPT[engine] = kept
    for name, listener in _LISTENERS:
        event.listen(factory, name, listener)


def uninstall(factory: Any, engine: Engine) -> None:
    _KEPT.pop(engine, None)
    for name, listener in _LISTENERS:
        if event.contains(factory, name, listener):
            event.remove(factory, name, listener)


def of_session(session: Session) -> Kept | None:
    """What the session's installation keeps (None for a session of no runtime: nothing is kept)."""
    try:
        bind = session.get_bind()
    except Exception:
        return None
    engine = getattr(bind, "engine", bind)
    return _KEPT.get(engine)


def written(session: Session) -> set[str]:
    """The record tables the session has written in its open transaction."""
    return session.info.get(WRITTEN, set())


def _note(session: Session, tables: Iterable[str]) -> None:
    found = {t for t in tables if t and t.startswith("rec_")}
    if found:
        session.info.setdefault(WRITTEN, set()).update(found)


def _after_flush(session: Session, _context: Any) -> None:
    tables = []
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, RecordEvent):
            tables.append(f"rec_{instance.record_type}")
        elif hasattr(instance, "__record_type__"):
            tables.append(instance.__table__.name)
    _note(session, tables)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        _note(state.session, [getattr(table, "name", "")])


def _after_commit(session: Session) -> None:
    tables = session.info.pop(WRITTEN, None)
    if tables:
        kept = of_session(session)
        if kept is not None:
            kept.generations.bump(tables)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost: committed (and counted) or rolled back
        session.info.pop(WRITTEN, None)


_LISTENERS = [
    ("after_flush", _after_flush),
    ("do_orm_execute", _do_orm_execute),
    ("after_commit", _after_commit),
    ("after_transaction_end", _after_transaction_end),
]
