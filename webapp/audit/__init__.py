"""Audit review: search the log, follow it live, read one entry in full, export what was found."""
