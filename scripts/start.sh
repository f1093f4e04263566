#!/usr/bin/env sh
# Container start: bring the schema up to date, then hand the process over to gunicorn.
set -eu
event-catalog db upgrade
exec gunicorn --config gunicorn.conf.py webapp.wsgi:app
