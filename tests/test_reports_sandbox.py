"""A report template is an admin's code: it cannot read files, reach the network or touch Python
internals, and a rendering that overruns its time or memory is stopped; each fails with a clear
error and renders (and stores) nothing."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest

from itpm.access import Actor
from itpm.records.service import Records
from itpm.reports.isolation import RENDERER, Limits, run_isolated
from itpm.reports.pdf import render_report_pdf
from itpm.reports.service import render_report
from itpm.reports.templates import RenderError, render_html

PAGE = '<html><head><link rel="stylesheet" href="style.css"></head><body><p>{}</p></body></html>'
QUICK = Limits(seconds=30)
ASSETS = {"style.css": "p { color: #333 }", "logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>'}


def render(template: str, css: str = ASSETS["style.css"], limits: Limits = QUICK) -> bytes:
    templates = {**ASSETS, "template.html": template, "style.css": css}
    files = {name: text.encode() for name, text in templates.items()}
    return run_isolated(render_report_pdf, (templates, files, {"title": "T"}), limits).value


def test_a_report_loads_its_own_files() -> None:
    assert render(PAGE.format('<img src="logo.svg"> {{ title }}')).startswith(b"%PDF")


@pytest.mark.parametrize(
    ("template", "css", "refused"),
    [
        (PAGE.format('<img src="http://example.com/track.png">'), "", "http://example.com/track.png"),
        (PAGE.format('<img src="file:///etc/passwd">'), "", "file:///etc/passwd"),
        (PAGE.format("x"), "body { background: url(file:///etc/passwd) }", "file:///etc/passwd"),
        (
            PAGE.format("x"),
            '@import url("https://fonts.example.com/a.css");',
            "https://fonts.example.com/a.css",
        ),
        (PAGE.format('<img src="../../../etc/passwd">'), "", "etc/passwd"),
    ],
)
def test_a_report_cannot_reach_a_local_file_or_the_network(template: str, css: str, refused: str) -> None:
    with pytest.raises(RenderError) as failed:
        render(template, css)
    assert f"the report tried to load '{refused}'" in str(failed.value)
    assert "a report may load only its own files (logo.svg, style.css, template.html)" in str(failed.value)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ title|attr('__class__') }}",
        "{{ measures.day.__globals__ }}",
        "{{ charts.progress.__module__ }}",
        "{{ '{0.__class__}'.format(title) }}",
    ],
)
def test_a_template_cannot_touch_python_internals(expression: str) -> None:
    with pytest.raises(RenderError) as failed:
        render_html({"template.html": f"line one\n{expression}"}, {"title": "T"})
    assert "template.html, line 2" in str(failed.value)
    assert "no Python internals" in str(failed.value) or "unsafe" in str(failed.value)


def test_a_template_cannot_change_what_it_is_given() -> None:
    with pytest.raises(RenderError) as failed:
        render_html({"template.html": "{{ items.append(3) }}"}, {"items": [1, 2]})
    assert "may not use 'append' of a list" in str(failed.value)


def test_a_template_cannot_include_a_file_of_the_server() -> None:
    with pytest.raises(RenderError) as failed:
        render_html({"template.html": "{% include '/etc/passwd' %}"}, {})
    assert "/etc/passwd" in str(failed.value)


def test_a_rendering_past_its_time_limit_is_stopped() -> None:
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError) as failed:
        render(slow, limits=Limits(seconds=1))
    assert "took longer than its limit of 1 seconds" in str(failed.value)


def test_a_rendering_past_its_memory_limit_is_stopped() -> None:
    greedy = "{% set rows = range(99999)|list %}{% for i in range(10000) %}{{ rows|join(',') }}{% endfor %}"
    with pytest.raises(RenderError) as failed:
        render(PAGE.format(greedy), limits=Limits(seconds=60, memory_mb=700))
    assert "memory limit of 700 MB" in str(failed.value)


def test_the_renderer_holds_no_database_code() -> None:
    """The rendering processes are forked from a server that loads the renderer alone: no models, no
    SQLAlchemy, no Flask-AppBuilder (a rendering reaches no database, and the server starts quickly)."""
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {', '.join(RENDERER)}; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "weasyprint" in loaded
    assert [
        m for m in loaded if m.split(".")[0] in ("sqlalchemy", "flask_appbuilder") or m == "itpm.models"
    ] == []


def test_a_published_report_reaching_out_renders_nothing(runtime: Any) -> None:
    """The whole path: an admin publishes a template fetching a URL; rendering it fails and makes no PDF."""
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("report", "department_health")))
        body["files"]["template.html"] = body["files"]["template.html"].replace(
            "<h1>", '<img src="http://169.254.169.254/latest/meta-data/"><h1>', 1
        )
        registry.save_draft(body, "admin")
        registry.publish([("report", "department_health")], "admin")
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        with pytest.raises(RenderError) as failed:
            render_report(records, "department_health", {"department": 1}, "en")
    assert "http://169.254.169.254/latest/meta-data/" in str(failed.value)
