#!/usr/bin/env sh
# Container start: bring the schema up to date, then hand the process over to gunicorn.
set -eu
# gunicorn's own variables, checked in one line each before anything runs: gunicorn reads
# WEB_CONCURRENCY as it is imported, and a bad value was a traceback from inside it.
python gunicorn.conf.py
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # Multiprocess metrics files from a previous run would be summed into this one's. Only
  # prometheus_client's own files (counter_<pid>.db, gauge_<mode>_<pid>.db, …) are deleted: the
  # folder is the operator's choice, and a recursive delete of a mistyped one took the SQLite audit
  # log (or a home folder) with it. A folder holding anything else is refused before anything runs.
  metrics_dir=$PROMETHEUS_MULTIPROC_DIR
  own='.*/\(counter\|gauge_[a-z]*\|histogram\|summary\)_[0-9]+\.db'
  mkdir -p "$metrics_dir"
  other=$(find "$metrics_dir" -mindepth 1 -maxdepth 1 ! \( -type f -regex "$own" \) -print | head -n 1)
  if [ -n "$other" ]; then
    echo "error: PROMETHEUS_MULTIPROC_DIR: '$metrics_dir' holds '$other', which is not a prometheus_client" \
      "metrics file: give the metrics a folder of their own (nothing in it is deleted)" >&2
    exit 2
  fi
  find "$metrics_dir" -mindepth 1 -maxdepth 1 -type f -regex "$own" -delete
fi
event-catalog db upgrade
# PostgreSQL: this period's and the next ones' audit partitions (nothing to do on SQLite); its
# summary is a log line, as every line of the container's output is.
event-catalog audit partitions ensure --log
exec gunicorn --config gunicorn.conf.py webapp.wsgi:app
