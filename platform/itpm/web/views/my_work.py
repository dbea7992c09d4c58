"""My work: the page (the home of staff roles), its API (`GET /api/v1/my/work`), and the counts in the
navigation bar. What is listed, and in which order, is `itpm.my_work`'s; the one-click actions post to
the record's own transition and decision routes, so permissions and history are the usual ones.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request, session, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from itpm.db import utcnow
from itpm.my_work import GROUPS, MyWork
from itpm.permissions import record_view_name
from itpm.web.context import current_catalog, records_service
from itpm.web.record_display import Bilingual, choice_label, person_zone

GROUP_TITLES = {
    "overdue": _l("Overdue"),
    "today": _l("Due today"),
    "later": _l("Later"),
}
KIND_TITLES = {
    "assigned": _l("assigned to me"),
    "waiting": _l("waiting for me"),
    "approval": _l("approval"),
    "mention": _l("mentioned me"),
}


def priority_label(item: Any) -> str:
    """An item's priority as its field's choices title it (P1, 高), not the stored value."""
    spec = current_catalog().record_types.get(item.type_name)
    name = spec.body.get("priority") if spec else None
    if item.priority is None or name not in (spec.fields if spec else {}):
        return str(item.priority or "")
    return choice_label(spec.fields[name], item.priority)


def due_label(item: Any) -> str:
    """When an item is due, in the reader's zone: a time for an SLA or an approval, a date for a date field."""
    if item.due is None:
        return ""
    local = item.due.astimezone(person_zone())
    return (
        local.strftime("%Y-%m-%d %H:%M")
        if item.sla or item.approval is not None
        else local.strftime("%Y-%m-%d")
    )


def my_work() -> MyWork:
    return MyWork(records_service(), utcnow(), person_zone())


#: Seconds a browser keeps the navigation bar's counts (others' changes show within this).
COUNTS_MAX_AGE = 30
#: The session's count of the person's own changes: part of the counts' address, so a change of
#: their own (an approval decided, a record closed) is counted on the next page.
COUNTS_VERSION = "itpm_changes"


def counts_url() -> str:
    return url_for("MyWorkApi.counts", v=session.get(COUNTS_VERSION, 0))


def changed_by_the_person() -> None:
    """A signed-in person's request that may change something: their counts' address moves on."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and session.get("_user_id") is not None:
        session[COUNTS_VERSION] = session.get(COUNTS_VERSION, 0) + 1


def work_counts() -> dict[str, int]:
    """The signed-in person's approvals waiting and overdue items, once per request however often shown."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "client_id", None):
        return {"approvals": 0, "overdue": 0}
    if "itpm_work_counts" not in g:
        g.itpm_work_counts = my_work().counts()
    return g.itpm_work_counts


class MyWorkView(BaseView):
    route_base = "/my/work"
    default_view = "index"

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        items = my_work().items()
        groups = [(name, GROUP_TITLES[name], [i for i in items if i.group == name]) for name in GROUPS]
        return self.render_template(
            "itpm/my_work/index.html",
            groups=[g_ for g_ in groups if g_[2]],
            total=len(items),
            kinds=KIND_TITLES,
            view_name=record_view_name,
            Bilingual=Bilingual,
            priority_label=priority_label,
            due_label=due_label,
            title=_("My work"),
        )


class MyWorkApi(BaseApi):
    resource_name = "my"
    openapi_spec_tag = "My work"
    class_permission_name = "MyWorkView"
    method_permission_name = {"work": "index", "counts": "index"}
    allow_browser_login = True

    @api_expose("/counts", methods=["GET"])
    @protect()
    def counts(self) -> Response:
        """The numbers in the navigation bar: approvals waiting for me and my overdue items.
        ---
        get:
          summary: My counts (approvals waiting for me, my overdue records), as the navigation bar shows them
          responses:
            200:
              description: '{"approvals": N, "overdue": N}'
            401:
              $ref: '#/components/responses/401'
        """
        response = self.response(200, **work_counts())
        # the bar asks for them after each page is shown, at an address that changes with each of the
        # person's own changes (`COUNTS_VERSION`): kept half a minute, so quick navigation asks once
        response.cache_control.private = True
        response.cache_control.max_age = COUNTS_MAX_AGE
        response.vary.add("Cookie")
        return response

    @api_expose("/work", methods=["GET"])
    @protect()
    def work(self) -> Response:
        """Everything assigned to me or waiting for me, the most urgent first.
        ---
        get:
          summary: My work (records assigned to me or waiting for me, approvals I decide, mentions)
          responses:
            200:
              description: '{"count": N, "counts": {"approvals", "overdue"}, "result": [...]}'
            401:
              $ref: '#/components/responses/401'
        """
        work = my_work()
        items = work.items()
        return self.response(
            200,
            count=len(items),
            counts=work.counts(),  # the menu's numbers, from their one definition
            result=[i.as_json() for i in items],
        )


def add_my_work_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        MyWorkView,
        "My to-do",
        label=_l("My to-do"),
        icon="fa-list-check",
        category="My work",
        category_label=_l("My work"),
    )
    appbuilder.add_api(MyWorkApi)
    current_app.jinja_env.globals.update(work_counts=work_counts, work_counts_url=counts_url)
    current_app.before_request(changed_by_the_person)
