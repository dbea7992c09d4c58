"""The WSGI application for production servers: `gunicorn 'itpm.wsgi:app'`.

Configured by the ITPM_* environment variables; every worker process serves
the newest published definitions on each request, without a restart. Log lines
go to stderr, as ITPM_LOG_FORMAT says (json for a log collector); with several
processes, set PROMETHEUS_MULTIPROC_DIR (docs/operations.md).
"""

from itpm import create_app, logs
from itpm.config import Settings

settings = Settings.from_env()
logs.configure(settings)  # first: what building the app logs is in the installation's format too
app = create_app(settings)
# automations start with each worker process: with Redis, committed events go to the RQ queue (run
# `itpm worker`); without, this process runs them (do not use gunicorn's --preload: threads do not fork)
app.extensions["itpm"].jobs  # noqa: B018
