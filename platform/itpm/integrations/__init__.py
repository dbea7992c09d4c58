"""Inbound integrations: tokens that let another system in, and the hooks that turn what it
sends (an Alertmanager alert, a signed JSON push from an ERP or CRM) into records, as an
`integration` definition says. Records are written through the records service, as the
integration's service person: the normal access layer applies.
"""
