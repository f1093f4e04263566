"""Extension singletons, bound to the app in `create_app` (one instance per process)."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from analytics.audit import Base
from webapp.segment import AnalyticsExtension

# Flask-SQLAlchemy wraps the library's declarative Base: one set of models, one metadata.
db = SQLAlchemy(model_class=Base)
# SQLite cannot ALTER most things in place; batch mode makes Alembic copy the table instead.
migrate = Migrate(render_as_batch=True)
csrf = CSRFProtect()
analytics_client = AnalyticsExtension()
