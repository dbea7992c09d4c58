"""KPIs: measures defined once (`kpi` definitions), read through the access layer, shown on dashboards."""
