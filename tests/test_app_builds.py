"""App builds and requests share Python's AST machinery one thread at a time (issue 12, item 7).

Under load the suite once failed with `SystemError: AST constructor recursion depth mismatch` in
Werkzeug's route compiler: CPython 3.11.7 counts the depth of every conversion between AST objects
and the compiler in one place for all threads, and itpm builds an app (Werkzeug compiles each route
from an AST) in one request's thread while other requests parse rules with `ast.parse`. The clash
needs a thread switch inside a conversion (a garbage collection running Python code there), so no
test can make it happen on purpose. What is tested instead: every such conversion, in an app build
and in parsing an expression, runs holding `AST_LOCK`; and builds running in threads beside threads
that parse expressions all finish, with nothing refused.
"""

from __future__ import annotations

import ast
import builtins
import threading
from typing import Any

import pytest
from flask import url_for

from itpm import expressions
from itpm.expressions import AST_LOCK, parse_expression
from itpm.web.app import build_app


def test_every_ast_conversion_in_an_app_build_or_a_parse_holds_the_lock(
    sqlite_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    conversions: list[tuple[str, bool]] = []
    real_compile = builtins.compile

    def watched(source: Any, *args: Any, **kwargs: Any) -> Any:
        flags = args[2] if len(args) > 2 else kwargs.get("flags", 0)
        if isinstance(source, ast.AST) or flags & ast.PyCF_ONLY_AST:
            conversions.append(("to code" if isinstance(source, ast.AST) else "to AST", AST_LOCK._is_owned()))
        return real_compile(source, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", watched)
    app = build_app(runtime, runtime.current_revision())
    with app.test_request_context():  # a route's URL builder is compiled when first used (LazyRule)
        url_for("MyWorkView.index")
    parse_expression("due_date >= start_date")
    monkeypatch.undo()
    assert {kind for kind, _held in conversions} == {"to code", "to AST"}
    assert [c for c in conversions if not c[1]] == []


def test_apps_built_in_threads_beside_threads_parsing_rules_all_finish(sqlite_app: Any) -> None:
    runtime = sqlite_app.extensions["itpm"]
    revision = runtime.current_revision()
    built: list[Any] = []
    errors: list[BaseException] = []
    building = threading.Event()
    done = threading.Event()

    def build() -> None:
        building.set()
        try:
            built.append(build_app(runtime, revision))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def parse() -> None:
        building.wait()
        parsed = 0
        while not done.is_set() or parsed == 0:
            try:
                expressions.parse_expression("spent > budget * 1.05 and (a or b) and c not in [1, 2]")
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
                return
            parsed += 1

    builders = [threading.Thread(target=build) for _ in range(2)]
    parsers = [threading.Thread(target=parse) for _ in range(2)]
    for thread in (*parsers, *builders):
        thread.start()
    for thread in builders:
        thread.join()
    done.set()
    for thread in parsers:
        thread.join()
    assert errors == []
    assert len(built) == 2 and all(
        app.url_map.bind("localhost").match("/api/v1/records/incident/") for app in built
    )
