"""The dashboards screens: a dashboard's tiles, and the list of exactly the records behind a figure.

What is measured and for whom is `itpm.kpis`'s; this module only makes the
links (a figure's records, with its period and group) and renders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from itpm.kpis.dashboards import home_dashboard, readable_dashboards, tiles
from itpm.kpis.explain import explain, shown, title
from itpm.kpis.pilots import scorecards
from itpm.kpis.review import monthly_review
from itpm.kpis.service import ask, counted
from itpm.kpis.spec import BREAKDOWNS, MONTH
from itpm.records.service import RecordError
from itpm.web.context import records_service
from itpm.web.record_display import choice_label

PAGE_SIZE = 100


def _language() -> str:
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


def drill_link(kpi: str, filters: dict[str, Any], period: str) -> str:
    """The page of the records behind a figure (a group's: its key as a filter)."""
    query = {"period": period, **{k: v for k, v in filters.items() if v is not None}}
    return url_for("DashboardsView.records", name=kpi) + "?" + urlencode(query)


class DashboardsView(BaseView):
    route_base = "/dashboards"
    default_view = "index"
    #: One permission for the screens: which KPIs, over which rows, is `itpm.kpis`'s to decide.
    method_permission_name = {
        "index": "read",
        "show": "read",
        "records": "read",
        "review": "read",
        "review_pdf": "read",
        "pilots": "read",
    }

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        """The reader's home dashboard (else the first they may read)."""
        records = records_service()
        found = home_dashboard(records) or next(iter(readable_dashboards(records)), None)
        if found is None:
            return self.render_template("itpm/dashboards/none.html", title=_("Dashboards"))
        return redirect(url_for("DashboardsView.show", name=found["name"]))

    @expose("/<name>", methods=["GET"])
    @has_access
    def show(self, name: str) -> Any:
        records = records_service()
        dashboards = readable_dashboards(records)
        body = next((b for b in dashboards if b["name"] == name), None)
        if body is None:
            abort(404)
        lang = _language()
        return self.render_template(
            "itpm/dashboards/show.html",
            dashboard=body,
            dashboards=dashboards,
            tiles=tiles(records, body, lang, drill_link),
            title_of=lambda b: title(b, lang),
            title=title(body, lang),
        )

    @expose("/kpi/<name>/records", methods=["GET"])
    @has_access
    def records(self, name: str) -> Any:
        """Exactly the records a figure counted: as many as its n."""
        records = records_service()
        filters = {k: request.args[k] for k in request.args if k in BREAKDOWNS}
        period = request.args.get("period") or None
        try:
            kpi, chosen, ids = counted(records, name, period, filters)
            answer = ask(
                records, name, chosen.label, None, {k: v for k, v in filters.items() if k != "month"}
            )
        except RecordError as error:
            abort(error.status if error.status in (403, 404) else 400, str(error.message))
        model = records.model(kpi.record_type)
        page = ids[:PAGE_SIZE]
        rows = {
            r.id: r for r in records.session.scalars(records.query(kpi.record_type).where(model.id.in_(page)))
        }
        lang = _language()
        met = set(counted(records, name, period, filters, part="numerator")[2]) if kpi.is_rate else set()
        return self.render_template(
            "itpm/dashboards/records.html",
            kpi=kpi,
            kpi_title=title(kpi.body, lang),
            period=chosen.label,
            filters=filters,
            figure=shown(answer.total.value, kpi.unit, lang),
            explained=explain(records.catalog, kpi, answer, lang, filters),
            count=len(ids),
            rows=[(rows[i], records.title(kpi.record_type, rows[i])) for i in page if i in rows],
            met=met,
            more=len(ids) > PAGE_SIZE,
            api=url_for("KpisApi.records", name=name) + "?" + urlencode({"period": chosen.label, **filters}),
            title=title(kpi.body, lang),
        )

    @expose("/review/", methods=["GET"])
    @has_access
    def review(self) -> Any:
        """The monthly review (月度复盘) of a month, by default the last one."""
        records = records_service()
        found = monthly_review(records, _review_month(records))
        return self.render_template(
            "itpm/dashboards/review.html",
            review=found,
            phase_title=_phase_title(records),
            drill=drill_link,
            pdf=url_for("DashboardsView.review_pdf", month=found.month),
            title=_("Monthly review"),
        )

    @expose("/review.pdf", methods=["GET"])
    @has_access
    def review_pdf(self) -> Any:
        """The same review as a PDF (A4, Chinese or English), rendered in a child process like the reports."""
        from itpm.reports.isolation import DEFAULT_LIMITS, run_isolated
        from itpm.reports.pdf import render_pdf
        from itpm.reports.templates import RenderError

        records = records_service()
        found = monthly_review(records, _review_month(records))
        person = records.actor
        html = render_template(
            "itpm/dashboards/review_pdf.html",
            review=found,
            phase_title=_phase_title(records),
            drill=drill_link,
            base=request.host_url.rstrip("/"),
            lang=_language(),
            reader=person.username,
            made=records.clock().astimezone(records.zone).strftime("%Y-%m-%d %H:%M"),
        )
        try:
            pdf = run_isolated(render_pdf, (html, {}), DEFAULT_LIMITS).value
        except RenderError as error:
            abort(503, str(error))
        response = make_response(pdf)
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = f'attachment; filename="monthly-review-{found.month}.pdf"'
        return response

    @expose("/pilots/", methods=["GET"])
    @has_access
    def pilots(self) -> Any:
        """The scorecards of the department pilots the reader follows: baseline against now, goal met or not."""
        lang = _language()
        return self.render_template(
            "itpm/dashboards/pilots.html",
            cards=scorecards(records_service()),
            title_of=lambda body: title(body, lang),
            shown=lambda figure, kpi: shown(figure.value, kpi.unit, lang),
            drill=drill_link,
            title=_("Pilot scorecards"),
        )


def _review_month(records: Any) -> str:
    """The month asked for (YYYY-MM), by default the last one; 400 otherwise."""
    today = records.clock().astimezone(records.zone).date()
    month = request.args.get("month") or (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    if not MONTH.match(month):
        abort(400, _("A month is written YYYY-MM."))
    return month


def _phase_title(records: Any) -> Any:
    spec = records.catalog.record_types.get("project")
    phase = spec.fields.get("phase") if spec else None
    return (lambda value: choice_label(phase, value)) if phase else str


def add_dashboard_views(appbuilder: AppBuilder) -> None:
    from itpm.web.api.kpis import KpisApi

    appbuilder.add_view(DashboardsView, "Dashboards", label=_l("Dashboards"), icon="fa-tachometer-alt")
    appbuilder.add_api(KpisApi)
