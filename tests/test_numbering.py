"""Record numbers: the pattern, and no duplicates when processes create records at the same moment."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import settings_for
from itpm.records.numbering import period_key, render


@pytest.mark.parametrize(
    ("pattern", "seq", "expected"),
    [
        ("INC-{YYYY}-{seq:05}", 7, "INC-2026-00007"),
        ("CHG{YY}{MM}-{seq:03}", 12, "CHG2603-012"),
        ("T-{seq}", 123456, "T-123456"),
        ("{YYYY}{MM}{DD}/{seq:02}", 3, "20260314/03"),
        ("BIG-{seq:02}", 12345, "BIG-12345"),
    ],
)
def test_a_number_follows_its_pattern(pattern: str, seq: int, expected: str) -> None:
    assert render(pattern, dt.date(2026, 3, 14), seq) == expected


def test_the_sequence_restarts_with_the_period_the_pattern_names() -> None:
    assert period_key("INC-{YYYY}-{seq:05}", dt.date(2026, 3, 14)) == "2026"
    assert period_key("CHG{YY}{MM}-{seq:03}", dt.date(2026, 3, 14)) == "2603"
    assert period_key("T-{seq}", dt.date(2026, 3, 14)) == ""


def _create_many(url: str, instance: str, count: int, queue: Any) -> None:
    from itpm.access import Actor
    from itpm.records.service import Records
    from itpm.runtime import Runtime

    runtime = Runtime(settings_for(url, Path(instance)))
    numbers = []
    for _ in range(count):
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), Actor(1, "admin", frozenset({"admin"})))
            record = records.create("incident", {"title": "load", "priority": "P3", "category": "network"})
            session.commit()
            numbers.append(record.number)
    runtime.dispose()
    queue.put(numbers)


@pytest.mark.postgres
def test_parallel_processes_never_share_a_number(fresh_database: Any, tmp_path: Path) -> None:
    url = fresh_database("postgres")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_create_many, args=(url, str(tmp_path), 25, queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    numbers = [n for _ in workers for n in queue.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(numbers) == 150
    assert len(set(numbers)) == 150
    year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert sorted(numbers) == [f"INC-{year}-{i:05d}" for i in range(1, 151)]
