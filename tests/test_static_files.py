"""Static files are asked for once: every URL a page names carries the file's version, and the browser
keeps a versioned file for a year; a changed file gets a new URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from itpm.web.static_files import UNVERSIONED_MAX_AGE, VERSIONED_MAX_AGE, file_version


def test_a_pages_scripts_and_stylesheets_carry_their_version_and_are_kept_a_year(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    named = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert len(named) > 10, named
    unversioned = [url for url in named if "?v=" not in url and not url.endswith("logo.svg")]
    assert unversioned == []
    script = next(url for url in named if url.startswith("/static/appbuilder/js/jquery"))
    response = client.get(script.replace("&amp;", "&"))
    assert response.status_code == 200
    assert response.cache_control.max_age == VERSIONED_MAX_AGE
    assert response.cache_control.immutable and response.cache_control.public
    assert not response.cache_control.no_cache
    # a font named from inside a stylesheet has no version: kept an hour, then asked again
    font = client.get("/static/appbuilder/css/webfonts/fa-solid-900.woff2")
    assert font.status_code == 200
    assert (font.cache_control.max_age, font.cache_control.immutable) == (UNVERSIONED_MAX_AGE, False)


def test_a_changed_file_has_a_new_version(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("console.log(1)")
    first = file_version(str(tmp_path), "app.js")
    (tmp_path / "app.js").write_text("console.log(22)")
    assert first and file_version(str(tmp_path), "app.js") not in (None, first)
    assert file_version(str(tmp_path), "missing.js") is None
    assert file_version(str(tmp_path), "../outside.js") is None
