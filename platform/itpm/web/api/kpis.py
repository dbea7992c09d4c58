"""REST API of the KPIs: a figure for the caller's rows, and exactly the records behind it.

`GET /api/v1/kpis/<name>?period=2026-06..2026-11&breakdown=team&project=7` answers
`{"value", "n", "numerator", "denominator", "period", ...}`; `GET /api/v1/kpis/<name>/records`
with the same parameters (and a group's key as a filter, `month=2026-09`) answers
`{"count", "result"}` where count is the figure's n. Both go through `itpm.kpis.service`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect
from flask_babel import get_locale
from flask_babel import lazy_gettext as _

from itpm.kpis.explain import explain, title
from itpm.kpis.measure import readable
from itpm.kpis.service import ask, counted
from itpm.kpis.spec import BREAKDOWNS
from itpm.records.service import Invalid, RecordError
from itpm.web.context import records_service

MAX_PAGE_SIZE = 100
RESERVED = ("period", "breakdown", "months", "page", "page_size", "part")


def _language() -> str:
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


def question() -> dict[str, Any]:
    """The period, breakdown, months and filters of a request (filters: any breakdown name)."""
    args = request.args
    unknown = sorted(k for k in args if k not in RESERVED and k not in BREAKDOWNS)
    if unknown:
        raise Invalid(
            f"{unknown[0]}: not a parameter of a KPI; parameters: {', '.join([*RESERVED, *BREAKDOWNS])}"
        )
    try:
        months = int(args.get("months", "1"))
    except ValueError:
        raise Invalid(_("months: must be a whole number from 1 to 36")) from None
    if not 1 <= months <= 36:
        raise Invalid(_("months: must be a whole number from 1 to 36"))
    return {
        "period": args.get("period") or None,
        "breakdown": args.get("breakdown") or None,
        "months": months,
        "filters": {k: args[k] for k in args if k in BREAKDOWNS},
    }


class KpisApi(BaseApi):
    resource_name = "kpis"
    openapi_spec_tag = "KPIs"
    base_permissions = ["can_read"]
    method_permission_name = {"list_kpis": "read", "figure": "read", "records": "read"}
    allow_browser_login = True

    def _error(self, error: RecordError) -> Response:
        return self.response(error.status, **error.as_json())

    @expose("/", methods=["GET"])
    @protect()
    @safe
    def list_kpis(self) -> Response:
        """The KPIs the caller may read.
        ---
        get:
          summary: The KPIs the caller may read, with their titles, units, targets and breakdowns
          responses:
            200: {description: "{count, result: [{name, title, record_type, measure, unit, target, direction, breakdowns}]}"}
        """
        lang = _language()
        found = [
            {
                "name": k.name,
                "title": title(k.body, lang),
                "record_type": k.record_type,
                "measure": k.measure,
                "unit": k.unit,
                "target": k.target,
                "direction": k.body.get("direction", "up"),
                "breakdowns": k.breakdowns or [],
            }
            for k in readable(records_service())
        ]
        return self.response(200, count=len(found), result=found)

    @expose("/<name>", methods=["GET"])
    @protect()
    @safe
    def figure(self, name: str) -> Response:
        """A KPI's figure over the caller's rows.
        ---
        get:
          summary: "A KPI's value, n, numerator and denominator for the period (by default this month), over the records the caller may read"
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: query, name: period, schema: {type: string}, description: "2026-11, 2026-06..2026-11 or 2026"}
          - {in: query, name: months, schema: {type: integer, minimum: 1, maximum: 36}, description: "without a period: the months up to this one"}
          - {in: query, name: breakdown, schema: {type: string, enum: [team, department, project, client, priority, person, month]}}
          responses:
            200: {description: "{value, n, numerator, denominator, period, unit, target, direction, groups?, explain}"}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """
        records = records_service()
        try:
            asked = question()
            answer = ask(
                records, name, asked["period"], asked["breakdown"], asked["filters"], asked["months"]
            )
        except RecordError as error:
            return self._error(error)
        body = answer.as_json()
        body["title"] = title(answer.kpi.body, _language())
        body["explain"] = explain(records.catalog, answer.kpi, answer, _language())
        return self.response(200, **body)

    @expose("/<name>/records", methods=["GET"])
    @protect()
    @safe
    def records(self, name: str) -> Response:
        """Exactly the records behind a KPI's figure.
        ---
        get:
          summary: "The records a KPI's figure counted (count = its n); a group's key as a filter gives that group's, part=numerator those meeting the numerator"
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: query, name: period, schema: {type: string}}
          - {in: query, name: months, schema: {type: integer, minimum: 1, maximum: 36}}
          - {in: query, name: part, schema: {type: string, enum: [all, numerator]}}
          - {in: query, name: page, schema: {type: integer, minimum: 0}}
          - {in: query, name: page_size, schema: {type: integer, minimum: 1, maximum: 100}}
          responses:
            200: {description: "{count, result: [record]}"}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """
        records = records_service()
        try:
            asked = question()
            page, size = _page()
            part = request.args.get("part", "all")
            if part not in ("all", "numerator"):
                raise Invalid(_("part: all or numerator"))
            kpi, _period, ids = counted(
                records, name, asked["period"], asked["filters"], asked["months"], part
            )
        except RecordError as error:
            return self._error(error)
        chosen = ids[page * size : (page + 1) * size]
        model = records.model(kpi.record_type)
        rows = {
            r.id: r
            for r in records.session.scalars(records.query(kpi.record_type).where(model.id.in_(chosen)))
        }
        return self.response(
            200, count=len(ids), result=[records.as_json(rows[i]) for i in chosen if i in rows]
        )


def _page() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", "0"))
        size = int(request.args.get("page_size", "25"))
    except ValueError:
        raise Invalid(_("page and page_size: whole numbers")) from None
    if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
        raise Invalid(_("page: 0 or more; page_size: 1 to %(most)s", most=MAX_PAGE_SIZE))
    return page, size
