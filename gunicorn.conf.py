"""gunicorn settings for the dashboard image; each can be overridden from the environment.

Workers are processes (isolation, one per core is the usual start); threads let one worker wait
on the database or the tester's send while serving other requests.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = None  # the app writes its own access lines, with request ids (webapp/logs.py)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
