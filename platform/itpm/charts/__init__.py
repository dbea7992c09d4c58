"""SVG charts drawn on the server, for PDF reports and (later) dashboards.

Every chart is a pure function from numbers, dates and labels to an <svg>
element as markup-safe text: no database, no clock, no script, nothing fetched.
"""

from itpm.charts.monthly import compliance, trend
from itpm.charts.progress import burndown, progress
from itpm.charts.timeline import Bar, timeline

__all__ = ["Bar", "burndown", "compliance", "progress", "timeline", "trend"]
