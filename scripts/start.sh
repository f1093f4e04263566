#!/usr/bin/env sh
# Container start: bring the schema up to date, then hand the process over to gunicorn.
set -eu
# gunicorn's own variables, checked in one line each before anything runs: gunicorn reads
# WEB_CONCURRENCY as it is imported, and a bad value was a traceback from inside it.
python gunicorn.conf.py
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # Multiprocess metrics files from a previous run would be summed into this one's.
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
event-catalog db upgrade
# PostgreSQL: this period's and the next ones' audit partitions (nothing to do on SQLite); its
# summary is a log line, as every line of the container's output is.
event-catalog audit partitions ensure --log
exec gunicorn --config gunicorn.conf.py webapp.wsgi:app
