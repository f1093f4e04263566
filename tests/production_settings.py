"""What production refuses, as the dashboard and the library say it: one line per secret left unset,
too short or guessable."""

SECRET_LINE = (
    "SECRET_KEY: APP_ENV=production needs a secret of your own, 16 characters or more, "
    "not a placeholder (it signs sessions and CSRF tokens): "
    "set SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
)
AUDIT_KEY_LINES = [
    "AUDIT_CHAIN_KEY: APP_ENV=production needs a secret of your own, 16 characters or more, "
    "not a placeholder (it keys the audit log's hash chain, "
    "so that whoever can write to the database cannot recompute it; the same on every host): "
    "set AUDIT_CHAIN_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
    "AUDIT_MASK_KEY: APP_ENV=production needs a secret of your own, 16 characters or more, "
    "not a placeholder (it keys the masks of personal data, "
    "so that they cannot be reversed by guessing): "
    "set AUDIT_MASK_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
]
HOST_AUDIT_KEY_LINES = [
    "AUDIT_CHAIN_KEY: APP_ENV=production needs the dashboard's AUDIT_CHAIN_KEY, "
    "not a placeholder (it keys the audit log's hash chain, "
    "so that whoever can write to the database cannot recompute it; the same on every host): "
    "set it to the dashboard's value, not a new one",
    "AUDIT_MASK_KEY: APP_ENV=production needs the dashboard's AUDIT_MASK_KEY, "
    "not a placeholder (it keys the masks of personal data, "
    "so that they cannot be reversed by guessing): "
    "set it to the dashboard's value, not a new one",
]
"""What `analytics.init()` says of the same keys on an application host, which must use the dashboard's."""
SECRET_KEY = "9f2c4e7a1b3d5f6081a2c3e4f5a6b7c8"
"""A production SECRET_KEY no check refuses."""
AUDIT_KEYS = {
    "AUDIT_CHAIN_KEY": "3b8e1f4a7c2d9e6f0a1b2c3d4e5f6a7b",
    "AUDIT_MASK_KEY": "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9",
}
