"""Audit review: search the log, follow it live, read one entry in full, export what was found;
the same reads as JSON for scripts (`api`)."""
