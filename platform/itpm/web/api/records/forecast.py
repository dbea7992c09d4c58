"""A project's forecast in the API: finish dates with their range, EVM with formulas, risk flags."""

from __future__ import annotations

from flask import Response
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _

from itpm.forecast.service import forecast_project
from itpm.records.service import RecordError
from itpm.web.api.records.base import RecordApiBase
from itpm.web.context import records_service


class RecordForecastApi(RecordApiBase):
    """GET /<pk>/forecast of a record type whose records have planned tasks (a project)."""

    @expose("/<int:pk>/forecast", methods=["GET"])
    @protect()
    @safe
    def forecast(self, pk: int) -> Response:
        """A project's forecast.
        ---
        get:
          summary: A project's finish-date forecast, EVM figures and risk flags
          description: |
            Finish-date percentiles (P50, P85, P95) and the chance of meeting the planned date,
            from 10,000 Monte Carlo runs over the project's weekly throughput, with the data used
            (weeks, window, source); EVM figures (CPI, SPI(t), EAC, VAC) with their formulas; risk
            flags with their reasons. Below 5 weeks with finished work and no prior from projects
            of the same type, the status is not_enough_history and there are no dates.
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The forecast}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            project = records.get(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        today = records.clock().astimezone(records.zone).date()
        found = forecast_project(records, self.type_name, project, today)
        if found is None:
            return self.response(
                404, message=_("Records of type %(name)s have no tasks to forecast.", name=self.type_name)
            )
        return self.response(200, **found.as_json())
