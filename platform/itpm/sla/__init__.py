"""Service level agreements: business calendars, SLA clocks and the `sla` definition kind.

Pure evaluation only; the automation engine schedules the warning and breach
jobs and records what they did.
"""
