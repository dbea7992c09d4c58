"""The WSGI application for production servers: `gunicorn 'itpm.wsgi:app'`.

Configured by the ITPM_* environment variables; every worker process serves
the newest published definitions on each request, without a restart.
"""

from itpm import create_app

app = create_app()
# automations start with each worker process: with Redis, committed events go to the RQ queue (run
# `itpm worker`); without, this process runs them (do not use gunicorn's --preload: threads do not fork)
app.extensions["itpm"].jobs  # noqa: B018
