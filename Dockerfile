# Production image: the dashboard under gunicorn, migrations applied at start, non-root.
# The project is installed from its source tree (editable), so that htmx, fetched from npm in the
# first stage, lands in webapp/static/vendor/ beside the package's own files as in a checkout.

FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
# APP_ENV=production: the app refuses to start without a SECRET_KEY, AUDIT_CHAIN_KEY and AUDIT_MASK_KEY
# of your own, and the session cookie is Secure (serve it over HTTPS, or set
# SESSION_COOKIE_SECURE=false on a private network).
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=8000 LOG_FORMAT=json \
    APP_ENV=production PROMETHEUS_MULTIPROC_DIR=/tmp/event-catalog-metrics
RUN useradd --create-home --uid 10001 app
WORKDIR /srv/event-catalog
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY analytics analytics
COPY webapp webapp
COPY scripts/start.sh scripts/start.sh
# The metrics folder exists in the image too: one-off commands (`docker run … event-catalog users add`)
# load the library, whose metrics need it; scripts/start.sh empties it for each start of the dashboard.
RUN pip install --no-cache-dir -e . && mkdir -p instance "$PROMETHEUS_MULTIPROC_DIR" \
    && chown app:app instance "$PROMETHEUS_MULTIPROC_DIR"
COPY --from=assets /build/node_modules/htmx.org/dist/htmx.min.js webapp/static/vendor/htmx.min.js
USER app
EXPOSE 8000
# scripts/start.sh migrates the database before gunicorn listens: failed checks during the start
# period do not count, so a long migration (0007 rewrites the audit log) is not reported unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 --start-period=5m \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
CMD ["scripts/start.sh"]
