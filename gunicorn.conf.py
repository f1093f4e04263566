"""gunicorn settings for the dashboard image; each can be overridden from the environment.

Workers are processes (isolation, one per core is the usual start); threads let one worker wait
on the database or the tester's send while serving other requests.
"""

import os
import re
import time
from collections.abc import Mapping

from gunicorn.glogging import Logger

COUNTS = {
    # variable: its default, its least value, and what it counts (for the refusal)
    "WEB_CONCURRENCY": (2, 1, "gunicorn's worker processes; with none, nothing answers"),
    "GUNICORN_THREADS": (4, 1, "threads per worker"),
    "GUNICORN_TIMEOUT": (60, 0, "seconds before a stuck worker is restarted; 0 never restarts it"),
}


def counts(environ: Mapping[str, str]) -> dict[str, int]:
    """`COUNTS` from the environment; a value that is not one stops the process in one line per
    variable, with gunicorn's "App failed to load" status, rather than a traceback, or a server
    without workers that takes connections and never answers (WEB_CONCURRENCY=0).

    gunicorn reads WEB_CONCURRENCY itself as it is imported, before this file, and fails there in a
    traceback: scripts/start.sh runs this file first (`python gunicorn.conf.py`) for that reason.
    """
    values: dict[str, int] = {}
    problems: list[str] = []
    for name, (default, least, meaning) in COUNTS.items():
        raw = environ.get(name, str(default))
        if re.fullmatch(r"[0-9]+", raw) and int(raw) >= least:
            values[name] = int(raw)
        else:
            problems.append(f"{name}: {raw!r} is not a whole number of {least} or more ({meaning})")
    if problems:
        from webapp.metrics import refuse

        refuse(problems)
    return values


_counts = counts(os.environ)
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = _counts["WEB_CONCURRENCY"]
threads = _counts["GUNICORN_THREADS"]
timeout = _counts["GUNICORN_TIMEOUT"]
accesslog = None  # the app writes its own access lines, with request ids (webapp/logs.py)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class UtcLogger(Logger):
    """gunicorn's own lines (start, workers, signals, timeouts) stamped in UTC as the app's are, and
    as JSON lines when the app's are (`LOG_FORMAT=json`).

    gunicorn's text lines took the process's local time (`+0900` under TZ=Asia/Tokyo) beside the
    app's UTC. Only the format of gunicorn's handlers changes: a `logconfig_dict` would also turn
    gunicorn's access lines on, which would repeat the app's own.
    """

    def setup(self, cfg):
        super().setup(cfg)
        from webapp.logs import JsonFormatter

        as_json = os.environ.get("LOG_FORMAT", "").lower() == "json"
        for handler in self.error_log.handlers:
            if as_json:
                handler.setFormatter(JsonFormatter())
            else:
                handler.formatter.converter = time.gmtime


logger_class = UtcLogger


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
