#!/usr/bin/env sh
# Container start: bring the schema up to date, then hand the process over to gunicorn.
set -eu

# Whether $1 is one of prometheus_client's own multiprocess files: a regular file named
# counter_<pid>.db, gauge_<mode>_<pid>.db, histogram_<pid>.db or summary_<pid>.db. Told by `case`
# on the name, not `find -regex`: GNU find's default regex dialect is its own, and with BSD's or
# busybox's find every real metrics file looked foreign, so every start after the first was refused.
is_metrics_file() {
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  name=${1##*/}
  case $name in *.db) ;; *) return 1 ;; esac
  stem=${name%.db}
  pid=${stem##*_}
  kind=${stem%_*}
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  case $kind in
    counter | histogram | summary) ;;
    gauge_*) case ${kind#gauge_} in '' | *[!a-z]*) return 1 ;; esac ;;
    *) return 1 ;;
  esac
}

# The first entry of folder $1 that is neither a metrics file nor the `lost+found` folder that
# mkfs.ext4 puts on a volume of its own; nothing when there is none.
first_foreign() {
  for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    if is_metrics_file "$entry"; then continue; fi
    if [ "${entry##*/}" = lost+found ] && [ -d "$entry" ] && [ ! -L "$entry" ]; then continue; fi
    printf '%s\n' "$entry"
    return
  done
}

# One-shot commands run without PROMETHEUS_MULTIPROC_DIR: nothing scrapes their metrics, and with
# it they left their own counter_<pid>.db (…) files, which gunicorn then summed into its totals until
# the next start. So the folder holds only gunicorn's files, and is cleared once, before anything runs.
without_metrics_folder() {
  (unset PROMETHEUS_MULTIPROC_DIR && exec "$@")
}

# gunicorn's own variables, checked in one line each before anything runs: gunicorn reads
# WEB_CONCURRENCY as it is imported, and a bad value was a traceback from inside it.
python gunicorn.conf.py
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # Multiprocess metrics files from a previous run would be summed into this one's. Only
  # prometheus_client's own files are deleted: the folder is the operator's choice, and a recursive
  # delete of a mistyped one took the SQLite audit log (or a home folder) with it. A folder holding
  # anything else is refused before anything runs.
  metrics_dir=$PROMETHEUS_MULTIPROC_DIR
  mkdir -p "$metrics_dir"
  other=$(first_foreign "$metrics_dir")
  if [ -n "$other" ]; then
    echo "error: PROMETHEUS_MULTIPROC_DIR: '$metrics_dir' holds '$other', which is not a prometheus_client" \
      "metrics file: give the metrics a folder of their own (nothing in it is deleted)" >&2
    exit 2
  fi
  for entry in "$metrics_dir"/*.db; do
    if is_metrics_file "$entry"; then rm -f -- "$entry"; fi
  done
fi
without_metrics_folder event-catalog db upgrade
# PostgreSQL: this period's and the next ones' audit partitions (nothing to do on SQLite); its
# summary is a log line, as every line of the container's output is.
without_metrics_folder event-catalog audit partitions ensure --log
exec gunicorn --config gunicorn.conf.py webapp.wsgi:app
