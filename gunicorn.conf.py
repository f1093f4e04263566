"""gunicorn settings for the dashboard image; each can be overridden from the environment.

Workers are processes (isolation, one per core is the usual start); threads let one worker wait
on the database or the tester's send while serving other requests.
"""

import os

from gunicorn.glogging import Logger

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = None  # the app writes its own access lines, with request ids (webapp/logs.py)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class JsonLinesLogger(Logger):
    """gunicorn's own lines (start, workers, signals, timeouts) as JSON lines, as the app's are.

    Only the format of gunicorn's handlers changes: a `logconfig_dict` would also turn gunicorn's
    access lines on, which would repeat the app's own.
    """

    def setup(self, cfg):
        super().setup(cfg)
        from webapp.logs import JsonFormatter

        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


if os.environ.get("LOG_FORMAT", "").lower() == "json":
    logger_class = JsonLinesLogger


def on_starting(server):  # noqa: ARG001  (gunicorn's hook signature)
    """Refuse an unusable PROMETHEUS_MULTIPROC_DIR in the master, before any worker fails on it."""
    from webapp.metrics import multiprocess_problems, refuse

    if problems := multiprocess_problems(os.environ):
        refuse(problems)


def child_exit(server, worker):  # noqa: ARG001  (gunicorn's hook signature)
    """Drop a dead worker's live gauges from the multiprocess metrics (prometheus_client docs)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which two
# servers on one machine would share; give each master its own.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", f"/tmp/event-catalog-gunicorn-{os.getpid()}.ctl")
