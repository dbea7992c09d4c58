"""The WSGI application for production servers: `gunicorn 'itpm.wsgi:app'`.

Configured by the ITPM_* environment variables; every worker process serves
the newest published definitions on each request, without a restart.
"""

from itpm import create_app

app = create_app()
