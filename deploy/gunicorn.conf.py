"""gunicorn settings for itpm: `gunicorn --config deploy/gunicorn.conf.py itpm.wsgi:app`.

Processes and threads come from ITPM_WEB_WORKERS and ITPM_WEB_THREADS (docs/operations.md, Sizing).
No preload: each process starts its own dispatcher thread, and threads do not survive a fork.
With PROMETHEUS_MULTIPROC_DIR set (an empty folder, emptied at each start), /metrics adds up the
counts of every process; a process that ends is marked dead so its gauges are dropped.
"""

import os

bind = os.environ.get("ITPM_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("ITPM_WEB_WORKERS", "2"))
threads = int(os.environ.get("ITPM_WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 120
graceful_timeout = 30
preload_app = False
control_socket_disable = True  # gunicorn 24+: no control socket in the home folder (systemd's is read-only)
accesslog = None  # itpm logs every request itself (logger itpm.request, with its id, route and time)
errorlog = "-"


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
