"""The event-catalog dashboard: a Flask app with one blueprint per job."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
"""The source checkout, where tests and scripts run from (not part of an installed package)."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The migration history, inside the package so that `pip install` carries it to application hosts."""


def create_app(
    test_config: Mapping[str, Any] | None = None, *, secrets: Mapping[str, str] | None = None
) -> Flask:
    """Build the dashboard app; configuration is layered, each layer overriding the one before.

    Args:
        test_config: settings over every other layer.
        secrets: the secrets production refuses unset or guessable; the dashboard's (all of them)
            by default. The command line passes none: each command checks those it uses.
    """
    from analytics.catalog import CATALOG
    from analytics.interrupted_pings import let_interrupted_pings_stop
    from analytics.utc_sessions import pin_utc_sessions
    from analytics.wording import counted, noun
    from webapp import (
        auth,
        chunked_bodies,
        cli,
        config,
        limits,
        logs,
        metrics,
        schema_guard,
        security,
        text_input,
    )
    from webapp.extensions import analytics_client, csrf, db, migrate
    from webapp.json_view import json_html, text_html

    # Flask's own instance folder: `instance/` beside the package in a checkout (and the image),
    # `<prefix>/var/webapp-instance` for an installed package.
    app = Flask(__name__, instance_relative_config=True)
    # 1. Defaults that make `make run` work with nothing set.
    app.config.from_mapping(config.defaults())
    # 2. An optional instance/config.py, for settings kept out of the environment; the variables it
    #    sets are checked as the environment's are, and reported with them below.
    instance, instance_problems = config.read_instance_file(Path(app.instance_path) / "config.py")
    app.config.from_mapping(instance)
    # 3. The environment, which is how deployments configure it; a bad value keeps its default here
    #    and is reported below with every other problem.
    environment = config.current_environment()
    app.config.from_mapping(environment.settings)
    # 4. Tests, last, so a test's mapping always wins.
    if test_config is not None:
        app.config.from_mapping(test_config)
    # Derived settings, and the production checks (secrets of your own), on the merged result.
    config.finalise(
        app.config,
        [*instance_problems, *environment.problems],
        config.SECRETS if secrets is None else secrets,
    )

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    logs.configure_logging(app)
    unread = config.unread_instance_file(Path(app.instance_path) / "config.py", Path.cwd())
    if unread is not None:
        app.logger.warning(unread)
    metrics.init_app(app)
    security.init_app(app)
    db.init_app(app)
    # Sessions in UTC, as the library's own: the dashboard's engine formats and groups its times too.
    # Its pings let a stopping signal through, as the library's do.
    with app.app_context():
        for engine in db.engines.values():
            pin_utc_sessions(engine)
            let_interrupted_pings_stop(engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    analytics_client.init_app(app)
    cli.init_app(app)
    # Access before rate limits: a request that may not run at all must not use up anyone's quota.
    schema_guard.init_app(app)
    auth.init_app(app)
    # After the signed-in user is known, so that its 400 page keeps the navigation to go back by.
    text_input.init_app(app)
    limits.init_app(app)

    from webapp.account.routes import bp as account_bp
    from webapp.api.routes import bp as api_bp
    from webapp.api.routes import open_to_anyone
    from webapp.audit.api import bp as audit_api_bp
    from webapp.audit.routes import bp as audit_bp
    from webapp.catalog.routes import bp as catalog_bp
    from webapp.errors.handlers import bp as errors_bp
    from webapp.health.routes import bp as health_bp
    from webapp.replay.routes import bp as replay_bp
    from webapp.tester.api import bp as tester_api_bp
    from webapp.tester.routes import bp as tester_bp

    app.register_blueprint(catalog_bp)
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(api_bp, url_prefix="/api")
    open_to_anyone(app)
    app.register_blueprint(audit_bp, url_prefix="/audit")
    app.register_blueprint(audit_api_bp, url_prefix="/api/audit")
    app.register_blueprint(replay_bp, url_prefix="/audit/replay")
    app.register_blueprint(errors_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(tester_bp, url_prefix="/tester")
    # A JSON API for scripts: no form, so no CSRF token; it only accepts application/json bodies,
    # which a cross-site form cannot send. Scripts sign in with an API token (`webapp.auth.bearer`).
    csrf.exempt(tester_api_bp)
    app.register_blueprint(tester_api_bp, url_prefix="/api/tester")

    # Every blueprint's pages count things ("3 entries"), with the plural rule the CLI's summaries use.
    app.add_template_filter(counted, "counted")
    app.add_template_filter(noun, "noun")
    # Payloads hold any script and any character: every page draws them so they read as stored.
    app.add_template_filter(json_html, "json_html")
    app.add_template_filter(text_html, "shown_text")

    @app.context_processor
    def catalog_version() -> dict[str, str]:
        """Every page's footer names the catalog version it shows."""
        return {"catalog_version": CATALOG.version}

    # Last, so that it wraps everything: a chunked body is measured before anything reads it.
    chunked_bodies.init_app(app)
    return app
