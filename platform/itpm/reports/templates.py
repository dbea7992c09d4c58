"""The sandbox report templates run in: Jinja2's immutable sandbox, over the report's own files.

Admins write these templates, so they get data (dicts, lists, text), the
charts and measures, and nothing else: no Python internals (any attribute
starting with _ stops the rendering), no changing what they are given, no
file but the report's own (the loader knows only those).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import FunctionLoader, TemplateSyntaxError, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from itpm import charts
from itpm.reports.measures import MEASURES

#: The file a report starts from; the others are what it includes, links or shows.
TEMPLATE = "template.html"
CHARTS = {
    "progress": charts.progress,
    "burndown": charts.burndown,
    "timeline": charts.timeline,
    "compliance": charts.compliance,
    "trend": charts.trend,
}


class RenderError(Exception):
    """A report that cannot be rendered, and why, in words for the person who asked (or its author)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        where = f"{file}, line {line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}")
        self.message = message
        self.file = file
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:  # it crosses from the rendering process to its parent
        return (RenderError, (self.message, self.file, self.line))


class ReportSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, where reaching for an internal fails at once instead of printing nothing."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"templates may not use {attribute!r} of a {type(obj).__name__}: "
            "no Python internals, and no changing what they are given"
        )


def money(value: Any) -> str:
    return "" if value is None else f"¥{value:,.0f}"


def percent(value: Any, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}%"


def number(value: Any, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


FILTERS: dict[str, Callable[..., str]] = {"money": money, "percent": percent, "number": number}


@pass_context
def _at_render(_context: Any, value: Any) -> Any:
    """Output as it is; needing the context, it keeps Jinja from working output out at compile time."""
    return value


def environment(templates: Mapping[str, str]) -> ReportSandbox:
    """The sandbox over `templates` (path: text): only they can be loaded, included or imported."""

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        return (templates[name], name, lambda: True) if name in templates else None

    # Nothing worked out while compiling: Jinja folds constant expressions then (the optimizer, and any
    # output whose finalize needs no context), so `"x" * 10**9` would be built wherever a template is
    # checked or compiled (the draft being saved), outside the limits a rendering runs in. Unfolded,
    # it is evaluated only when rendered, in its bounded child process.
    sandbox = ReportSandbox(
        loader=FunctionLoader(load),
        autoescape=True,
        auto_reload=False,
        optimized=False,
        finalize=_at_render,
    )
    sandbox.filters.update(FILTERS)
    sandbox.globals.update(charts=CHARTS, measures=MEASURES)
    return sandbox


def render_html(templates: Mapping[str, str], context: Mapping[str, Any]) -> str:
    """The report's HTML; RenderError names the template file and line of what went wrong."""
    try:
        return environment(templates).get_template(TEMPLATE).render(context)
    except TemplateSyntaxError as error:
        raise RenderError(error.message or str(error), error.filename or error.name, error.lineno) from None
    except MemoryError:
        raise  # the rendering's memory limit: its process reports it
    except SecurityError as error:
        raise RenderError(str(error), *_where(error, templates)) from None
    except Exception as error:  # a template's mistake of any kind: name it, with its line
        raise RenderError(f"{type(error).__name__}: {error}", *_where(error, templates)) from None


def _where(error: BaseException, templates: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The template file and line an error was raised from (Jinja puts them in the traceback)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in templates]
    return (frames[-1].filename, frames[-1].lineno) if frames else (None, None)
