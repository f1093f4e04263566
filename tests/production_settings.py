"""What production refuses, as the dashboard and the library say it: one line per secret left unset
or too short."""

SECRET_LINE = (
    "SECRET_KEY: APP_ENV=production needs a secret of your own, 16 characters or more "
    "(it signs sessions and CSRF tokens): "
    "set SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
)
AUDIT_KEY_LINES = [
    "AUDIT_CHAIN_KEY: APP_ENV=production needs a secret of your own, 16 characters or more "
    "(it keys the audit log's hash chain, "
    "so that whoever can write to the database cannot recompute it; the same on every host): "
    "set AUDIT_CHAIN_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
    "AUDIT_MASK_KEY: APP_ENV=production needs a secret of your own, 16 characters or more "
    "(it keys the masks of personal data, "
    "so that they cannot be reversed by guessing): "
    "set AUDIT_MASK_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
]
AUDIT_KEYS = {"AUDIT_CHAIN_KEY": "c" * 40, "AUDIT_MASK_KEY": "m" * 40}
