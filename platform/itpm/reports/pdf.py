"""HTML to PDF with WeasyPrint, where the only files a report can load are its own.

WeasyPrint would fetch any URL (file:, http:, https:) a template names; here
the URL fetcher serves the report's own files (under a made-up origin the
document's relative URLs resolve against) and inline data: URLs, and refuses
the rest, which stops the rendering: nothing is half-made.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from itpm.reports.templates import RenderError, render_html

#: What relative URLs in a report resolve against; .invalid never resolves on any network.
ORIGIN = "https://report.itpm.invalid/"


class RefusedURL(Exception):
    pass


class AssetFetcher(URLFetcher):
    """Serves a report's own files and data: URLs; refuses every other URL."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        super().__init__(fail_on_errors=True)
        self.files = files

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith(ORIGIN):
            path = unquote(urlsplit(url).path).lstrip("/")
            if path in self.files:
                kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return URLFetcherResponse(url, self.files[path], {"Content-Type": kind})
        raise RefusedURL(url)


def render_pdf(html: str, files: Mapping[str, bytes]) -> bytes:
    """The PDF of `html`; RenderError when it asks for anything but the report's own files."""
    try:
        return HTML(string=html, base_url=ORIGIN, url_fetcher=AssetFetcher(files)).write_pdf()
    except FatalURLFetchingError as error:
        url = str(error.__cause__) if isinstance(error.__cause__, RefusedURL) else str(error)
        shown = url.removeprefix(ORIGIN) if url.startswith(ORIGIN) else url
        own = ", ".join(sorted(files)) or "none"
        raise RenderError(
            f"the report tried to load {shown!r}; a report may load only its own files ({own})"
        ) from None


#: A page in the report's fonts and both languages: what `warm_up` lays out.
WARM_UP_PAGE = (
    '<html lang="zh"><body style="font-family: \'Noto Sans CJK SC\', sans-serif">'
    "<h1>项目月度报告 Monthly report</h1><table><tr><td>任务</td><td>Task 12%</td></tr></table>"
    "</body></html>"
)


def warm_up() -> int:
    """Lay out and write one small page (fontconfig and Pango load their fonts); the PDF's size."""
    return len(render_pdf(WARM_UP_PAGE, {}))


def render_report_pdf(
    templates: Mapping[str, str], files: Mapping[str, bytes], context: Mapping[str, Any]
) -> bytes:
    """Template to PDF: what the child process of a rendering runs."""
    return render_pdf(render_html(templates, context), files)
