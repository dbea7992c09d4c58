"""Planning: people's workload and capacity, and project schedules (the Gantt chart).

`schedule` and `workload` are pure (dates and numbers in, dates and numbers out);
`service` reads them from the records, through the access layer, using the fields
each record type's definition names under `planning`.
"""
