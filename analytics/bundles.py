"""Load a catalog's schema bundle from wherever a version of it lives, for `event-catalog diff`.

A side of a diff can be:

- `current`: the catalog of the code running this command;
- a JSON file: `event-catalog export --format jsonschema` output, or a saved `/api/catalog`;
- an `http(s)://` URL of a running dashboard (its `/api/catalog` is fetched);
- a git ref of the repository that holds the catalog (`origin/main`, `HEAD~1`, a tag): the
  `analytics` package at that ref is extracted to a temporary folder and imported there by a child
  Python, so the bundle is computed by that version's own code, exactly as it would have been sent.

A CSV file or a Segment tracking plan (our other exports, the plans people keep) is refused saying
what it is and what to diff instead, not in a JSON reader's words.
"""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from analytics.catalog import CATALOG
from analytics.strict_json import TooDeep, load_json

CURRENT = "current"

TOKEN_VARIABLE = "EVENT_CATALOG_TOKEN"
"""The environment variable a script keeps its dashboard API token in (never an argument: shell
history and process lists would show it)."""
# Run with `python -I` (no PYTHONPATH, no working directory on sys.path), the child puts the extracted
# tree first itself, after `.pth` files had their say, and refuses to build from any other copy.
_CHILD = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import analytics.catalog\n"
    "if not Path(analytics.catalog.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()):\n"
    "    sys.exit(f'analytics was imported from {analytics.catalog.__file__}, not from the revision')\n"
    "json.dump(analytics.catalog.CATALOG.schema_bundle(), sys.stdout, default=str)\n"
)


class BundleError(Exception):
    """A side of the diff could not be loaded; the message says which and why, in one line."""


NOT_DIFFED = (
    "which diff does not read: diff the catalog's JSON Schema bundles (`event-catalog export --format "
    "jsonschema -o v1.json` at each version) or its git refs (`event-catalog diff origin/main HEAD`)"
)
"""What to do with a plan file diff is given by mistake: the exports people keep are often the CSV
or the Segment plan, which drop what diff compares (constants, scopes' schemas, `$defs`)."""


def _is_segment_plan(document: Any) -> bool:
    """Whether a JSON document is a Segment tracking plan: ours, or the Public API's in its envelopes."""
    while isinstance(document, dict) and "rules" not in document:
        document = document.get("data", document.get("trackingPlan"))
    return isinstance(document, dict)


def _looks_like_csv(path: Path, text: str) -> bool:
    """Whether text that is not JSON is a CSV file: by its name, else by a header line that names an
    event column among others (a plan exported with `--format csv`, or a sheet saved under another name)."""
    first = text.lstrip("\ufeff").partition("\n")[0]
    return path.suffix.lower() in (".csv", ".tsv") or (
        "event" in first.lower() and any(separator in first for separator in (",", ";", "\t"))
    )


def normalise(document: Any, source: str) -> dict[str, Any]:
    """Reduce an exported bundle or an `/api/catalog` document to `{"events": …, "identifiers": …}`.

    Raises:
        BundleError: the document is neither.
    """
    if not isinstance(document, dict):
        raise BundleError(f"{source}: not a catalog document (expected a JSON object)")
    events, identifiers = document.get("events"), document.get("identifiers", {})
    if isinstance(events, dict) and isinstance(identifiers, dict):
        return {"events": events, "identifiers": identifiers}
    if isinstance(events, list) and isinstance(identifiers, list):
        try:
            return {
                "events": {entry["name"]: entry["json_schema"] for entry in events},
                "identifiers": {entry["name"]: entry["json_schema"] for entry in identifiers},
            }
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{source}: an entry has no name or json_schema ({exc})") from exc
    if _is_segment_plan(document):
        raise BundleError(f"{source}: a Segment Protocols tracking plan, {NOT_DIFFED}")
    raise BundleError(f"{source}: not a schema bundle or an /api/catalog document")


def _from_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        return normalise(load_json(text), str(path))
    except OSError as exc:
        raise BundleError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        # JSON is UTF-8 (RFC 8259); anything else is most likely not an export at all.
        raise BundleError(f"{path}: not a JSON file (byte {exc.start} is not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        # A JSON reader's words ("Unexpected UTF-8 BOM") for our own CSV export would say nothing useful.
        if _looks_like_csv(path, text):
            raise BundleError(f"{path}: a CSV file, {NOT_DIFFED}") from exc
        raise BundleError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    except ValueError as exc:
        # load_json's own refusals: nested too deeply, a key given twice, NaN or Infinity.
        raise BundleError(f"{path}: {exc}") from exc


def _refusal_hint(code: int, token: str | None) -> str:
    """What to do about a dashboard's 401 or 403 that gave no message of its own."""
    if code not in (401, 403):
        return ""
    if token is not None:
        return f" (the API token in {TOKEN_VARIABLE} was refused: unknown, revoked, or its account disabled)"
    return f" (put an API token in {TOKEN_VARIABLE}, or run the dashboard with CATALOG_API_PUBLIC=true)"


MESSAGE_READ = 64 * 1024
"""Most bytes of an error answer read for its message: a dashboard's JSON error is well under 1 KB,
and a server that is not one may send a page of any size."""

MESSAGE_SHOWN = 300
"""Most characters of a dashboard's error message repeated on the one line of a refusal."""


def _dashboard_message(error: urllib.error.HTTPError) -> str | None:
    """The `error.message` of a dashboard's JSON error (`This API token … expired on …`), on one line
    of printable text, or None when the answer holds none: the dashboard names the exact reason, where
    the command can only guess it from the status."""
    try:
        message = load_json(error.read(MESSAGE_READ))["error"]["message"]
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        return None
    if not isinstance(message, str) or not message.strip():
        return None
    # Quoted as printable text: what a server that is not a dashboard sent may hold a newline or an ESC.
    shown = " ".join("".join(c if c.isprintable() else " " for c in message).split())
    return shown if len(shown) <= MESSAGE_SHOWN else shown[: MESSAGE_SHOWN - 1] + "…"


def _from_url(url: str, timeout: float, token: str | None) -> dict[str, Any]:
    target = url if url.rstrip("/").endswith("/api/catalog") else url.rstrip("/") + "/api/catalog"
    try:
        request = urllib.request.Request(target, headers={"Accept": "application/json"})
    except ValueError as exc:  # an unclosed `[` or a bracketed host that is no IPv6 address
        raise BundleError(f"{url}: not a URL ({exc})") from None
    if token is not None:
        # A secret pasted into CI often ends in a newline; a token holds no whitespace anyway.
        if not token.strip().isprintable() or " " in token.strip():
            raise BundleError(f"{TOKEN_VARIABLE} is not an API token (it holds spaces or control characters)")
        # Unredirected: urllib copies ordinary headers onto every redirect, to any host and scheme,
        # so a dashboard behind an http→https or login redirect would hand the token to the next host.
        request.add_unredirected_header("Authorization", f"Bearer {token.strip()}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return normalise(load_json(response.read()), target)
    except urllib.error.HTTPError as exc:
        said = _dashboard_message(exc)
        exc.close()
        answered = f"{target}: the dashboard answered {exc.code} {exc.reason}"
        if token is not None and exc.geturl() != target:
            hint = f" (it redirected to {exc.geturl()}, which is not sent the API token: name that address)"
            raise BundleError(answered + hint) from exc
        refused = exc.code in (401, 403)
        if said is None or (refused and token is None):
            raise BundleError(answered + _refusal_hint(exc.code, token)) from exc
        if refused:
            # An expired token (the 90-day default) is the likeliest CI failure: the answer says so.
            raise BundleError(f"{answered} to the API token in {TOKEN_VARIABLE}: {said}") from exc
        raise BundleError(f"{answered}: {said}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BundleError(f"{target}: cannot reach the dashboard ({reason})") from exc
    except http.client.InvalidURL as exc:  # http.client parses the host and port only as it connects
        raise BundleError(f"{url}: not a URL ({exc})") from None
    except http.client.HTTPException as exc:  # neither an OSError nor a ValueError
        # Quoted: what a server that is not a dashboard sent may hold a newline or an ESC.
        raise BundleError(f"{target}: no HTTP answer ({type(exc).__name__}: {str(exc).strip()!r})") from exc
    except TooDeep as exc:
        raise BundleError(f"{target}: the answer is {exc}") from exc
    except ValueError as exc:
        raise BundleError(f"{target}: the answer is not JSON") from exc


def _git(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BundleError(f"git {' '.join(args[:2])}: {message[-1] if message else 'failed'}")
    return done.stdout


def _git_ref_of(repo: Path, *, named: bool) -> str:
    """What a git ref would have been looked up in, as the refusal of a side says it: a folder outside
    any repository was named as the repository whose ref was not found. Only the working directory
    (`named` False) is worth the advice to name the repository with `--repo`."""
    try:
        _git(repo, "rev-parse", "--git-dir")
    except BundleError:
        outside = f"{repo.resolve()} is not in a git repository"
        advice = "" if named else ": give --repo, or run it in the catalog's"
        return f"a git ref ({outside}{advice})"
    return f"a git ref of {repo.resolve()}"


def _from_git(ref: str, named_repo: Path | None, package: str) -> dict[str, Any]:
    repo = named_repo or Path.cwd()
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except BundleError:
        where = _git_ref_of(repo, named=named_repo is not None)
        raise BundleError(f"{ref}: not `current`, a JSON file, a URL or {where}") from None
    prefix = _git(repo, "rev-parse", "--show-prefix").decode().strip()
    archive = _git(repo, "archive", "--format=tar", commit, "--", f"{prefix}{package}")
    with tempfile.TemporaryDirectory(prefix="event-catalog-diff-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        root = Path(folder) / prefix / Path(package).parent
        # Any other path would let the child import the installed `analytics` for both sides, and
        # a diff of the same catalog with itself passes a CI gate whatever the revisions changed.
        if Path(package).name != "analytics" or not (root / "analytics" / "catalog.py").is_file():
            raise BundleError(
                f"{ref}: {package!r} is not the catalog package at that revision "
                "(an `analytics` folder holding catalog.py; see --package)"
            )
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(root)], capture_output=True, check=False, text=True
        )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()
        raise BundleError(f"{ref}: cannot build that version's catalog ({last[-1] if last else 'no output'})")
    return normalise(json.loads(done.stdout), ref)


def load_bundle(
    source: str,
    *,
    repo: Path | None = None,
    package: str = "analytics",
    timeout: float = 10,
    token: str | None = None,
) -> dict[str, Any]:
    """Load one side of a diff.

    Args:
        source: `current`, a JSON file, an `http(s)://` dashboard URL, or a git ref.
        repo: the git repository for refs (the working directory by default).
        package: the catalog package's path inside the repository, for refs.
        timeout: seconds to wait for a dashboard.
        token: a personal API token the dashboard's catalog API is called with (`Bearer`).

    Returns:
        `{"events": {name: schema}, "identifiers": {name: schema}}`.

    Raises:
        BundleError: the source cannot be read, with the reason.
    """
    if source == CURRENT:
        return CATALOG.schema_bundle()
    if source.startswith(("http://", "https://")):
        return _from_url(source, timeout, token)
    path = Path(source)
    if path.suffix == ".json" or path.is_file():
        if path.is_dir():
            raise BundleError(f"{source}: is a directory, not an exported catalog (a JSON file)")
        if not path.is_file():
            raise BundleError(f"{source}: no such file")
        return _from_file(path)
    return _from_git(source, repo, package)
