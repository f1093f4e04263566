"""`event-catalog check-code`: find analytics calls in application code that bypass the catalog.

The original package's rule is that every event is built through its spec. This reads Python source
with `ast` (never regular expressions, which cannot tell a call from a comment) and reports:

    CC001 a spec or scope class defined outside the catalog package (the dashboard and lint never see it)
    CC002 the raw Segment client called directly (nothing audited, nothing validated)
    CC003 an event string that is not in the catalog
    CC004 an event or traits built by hand instead of through their spec
    CC005 a catalog spec that no scanned code uses (a planned spec is left out: unused is what it is
          until engineers implement it, and building one is not a finding either)
    CC006 a deprecated event's spec built: send its replacement

The catalog package itself is exempt from all but CC005: its client is the one wrapper around the
Segment client, so it builds the raw calls the others must not.

A finding is silenced by a comment on its line: `# check-code: ignore[CC004]` (several codes
separated by commas), or `# check-code: ignore` for every code. For CC005 the comment goes on the
spec's `class` line in the catalog.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from analytics.catalog import CATALOG, Catalog
from analytics.scopes import SCOPES
from analytics.spec import Status, TrackSpec

CATALOG_PACKAGE = Path(__file__).resolve().parent
SEGMENT_CALLS = frozenset({"track", "identify", "page", "screen", "group", "alias"})
SPEC_BASES = frozenset({"TrackSpec", "IdentifySpec"})
SCOPE_BASES = frozenset(scope.__name__ for scope in SCOPES)
"""The catalog's scopes: a scope an application derives from one adds ids no catalog spec declares."""
SKIPPED_DIRECTORIES = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"})
_SUPPRESSION = re.compile(r"#\s*check-code:\s*ignore(?:\[(?P<codes>[A-Z0-9,\s]+)\])?")


@dataclass(frozen=True)
class CodeFinding:
    """One call or class that bypasses the catalog.

    Attributes:
        path: the file, relative to the working directory when it is below it.
        line: the 1-based line.
        code: `CC001`…`CC006`.
        message: what is wrong and what to do instead.
    """

    path: str
    line: int
    code: str
    message: str

    @property
    def where(self) -> str:
        """`path:line`, the form editors and CI annotations link."""
        return f"{self.path}:{self.line}"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def iter_python_files(paths: Iterable[Path], exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Every `.py` file under the paths, skipping virtualenvs, caches and `exclude` globs.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(f"no such file or directory: {root}")
        candidates = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in candidates:
            parts = set(path.parts)
            if parts & SKIPPED_DIRECTORIES or _excluded(path, root, exclude):
                continue
            yield path


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    """Whether a glob names the file: its path as found, its path under the scanned folder, or one of
    the file and folder names on that path (`generated`, `*_pb2.py`), as flake8's `--exclude` does,
    so that one pattern works whether CI runs `check-code .` or `check-code $PWD`."""
    relative = path.relative_to(root) if root.is_dir() else Path(path.name)
    texts = [str(path), str(relative), *relative.parts]
    return any(fnmatch(text, pattern) for pattern in patterns for text in texts)


def _parse(path: Path) -> tuple[ast.Module, list[str]]:
    """A file's tree and lines, decoded as Python decodes it: its coding cookie, else UTF-8.

    Raises:
        SyntaxError: not valid Python, not in its encoding, or holding a NUL byte, always naming the file.
    """
    source = path.read_bytes()
    if b"\0" in source:
        # Python refuses it too, but names neither file nor line (and early 3.11s raise ValueError).
        line = source.count(b"\n", 0, source.index(b"\0")) + 1
        raise SyntaxError("source code cannot contain null bytes", (str(path), line, None, None))
    tree = ast.parse(source, filename=str(path))
    encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    return tree, source.decode(encoding).splitlines()


def _suppressed(source_lines: Sequence[str], line: int, code: str) -> bool:
    if not 0 < line <= len(source_lines):
        return False
    match = _SUPPRESSION.search(source_lines[line - 1])
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in {c.strip() for c in codes.split(",")}


def _dotted(node: ast.expr) -> str:
    """`a.b.c` for a Name/Attribute chain, else an empty string."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


@dataclass
class _FileScan(ast.NodeVisitor):
    """What one file says: its findings and the names it uses."""

    catalog: Catalog
    in_catalog: bool
    findings: list[tuple[int, str, str]] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)
    segment_modules: set[str] = field(default_factory=set)
    segment_classes: set[str] = field(default_factory=set)
    segment_clients: set[str] = field(default_factory=set)
    deprecated: dict[str, str] = field(default_factory=dict)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "segment" or alias.name.startswith("segment."):
                self.segment_modules.add(alias.asname or alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module == "segment":
            self.segment_modules.update(a.asname or a.name for a in node.names)
        elif module.startswith("segment."):
            for alias in node.names:
                target = self.segment_classes if alias.name == "Client" else self.segment_modules
                target.add(alias.asname or alias.name)

    def _is_segment(self, dotted: str) -> bool:
        head = dotted.split(".", 1)[0]
        return (
            dotted in self.segment_modules
            or dotted in self.segment_clients
            or head in self.segment_modules
            or dotted.startswith("segment.")
        )

    def _builds_client(self, call: ast.Call) -> bool:
        """Whether a call constructs the Segment client (`Client(key)`, `segment.analytics.Client(key)`)."""
        constructor = _dotted(call.func)
        return constructor in self.segment_classes or (
            constructor.endswith(".Client") and self._is_segment(constructor.rsplit(".", 1)[0])
        )

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Call) and self._builds_client(node.value):
            self.segment_clients.update(_dotted(target) for target in node.targets if _dotted(target))
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = {_dotted(base).rsplit(".", 1)[-1] for base in node.bases}
        if bases & SPEC_BASES and not self.in_catalog:
            self.findings.append(
                (
                    node.lineno,
                    "CC001",
                    f"spec {node.name} is defined outside the catalog package; "
                    "move it to analytics/tracks.py or analytics/identifiers.py so the catalog registers it",
                )
            )
        elif bases & SCOPE_BASES and not self.in_catalog:
            self.findings.append(
                (
                    node.lineno,
                    "CC001",
                    f"scope {node.name} is defined outside the catalog package; "
                    "move it to analytics/scopes.py so the catalog's specs can take it",
                )
            )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.used_names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.used_names.add(node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and self._builds_client(func.value)
        ):
            # Built and called in one expression: `Client(key).track(...)`.
            callee, method, direct = f"{_dotted(func.value.func)}(...).{func.attr}", func.attr, True
        else:
            callee = _dotted(func)
            method = callee.rsplit(".", 1)[-1]
            receiver = callee.rsplit(".", 1)[0] if "." in callee else ""
            direct = self._is_segment(receiver) if receiver else callee in self.segment_modules
        deprecated = self.deprecated.get(method)
        if deprecated is not None and not self.in_catalog:
            self.findings.append((node.lineno, "CC006", deprecated))
        # The catalog package is the one place that calls the Segment client, by hand, for everyone.
        if method in SEGMENT_CALLS and not self.in_catalog:
            if direct:
                # The catalog has specs for track and identify only: other calls become events.
                instead = "analytics.identify" if method == "identify" else "analytics.track"
                message = f"{callee}() calls the Segment client directly; send a spec with {instead}"
                self.findings.append((node.lineno, "CC002", message))
            self._check_hand_built(node, method)
        self.generic_visit(node)

    def _check_hand_built(self, node: ast.Call, method: str) -> None:
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        if method == "track":
            # Segment's signature is track(user_id, event, properties): the event is the second
            # positional argument; wrappers that take the event first (`track("Event", {...})`, or
            # the event alone) have it as the first, when the second is not text.
            candidates = [keywords.get("event"), *node.args[1:2], *node.args[:1]]
            for value in candidates:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    self._event_string(node.lineno, value.value)
                    return
        hand_built = (
            "properties" in keywords
            or "traits" in keywords
            or any(isinstance(argument, ast.Dict) for argument in node.args)
        )
        if method in ("track", "identify") and hand_built:
            self.findings.append(
                (
                    node.lineno,
                    "CC004",
                    f"{method}() with hand-built properties or traits; build its spec instead",
                )
            )

    def _event_string(self, line: int, event: str) -> None:
        if event in self.catalog.events:
            spec = self.catalog.events[event].spec.__name__
            message = f'"{event}" sent by its string; send analytics.track({spec}(...)) instead'
            self.findings.append((line, "CC004", message))
        else:
            close = self.catalog.closest(event, kinds=("track",))
            hint = f'; did you mean "{close}"?' if close else ""
            self.findings.append((line, "CC003", f'"{event}" is not an event of the catalog{hint}'))


def _deprecated_specs(catalog: Catalog) -> dict[str, str]:
    """Each deprecated event's spec class name, with what to say where it is built."""
    return {
        info.spec.__name__: _deprecation(catalog, name, info.spec.replaced_by)
        for name, info in catalog.events.items()
        if issubclass(info.spec, TrackSpec) and info.spec.status is Status.DEPRECATED
    }


def _deprecation(catalog: Catalog, event: str, replaced_by: str | None) -> str:
    """What to say where a deprecated event's spec is built: what to send instead, by its spec."""
    replacement = catalog.events.get(str(replaced_by)) if replaced_by is not None else None
    if replacement is None:
        return f'"{event}" is deprecated'
    return f'"{event}" is deprecated: send {replacement.spec.__name__}(...) ("{replaced_by}") instead'


@dataclass(frozen=True)
class _SpecSource:
    """A catalog source file read once: its lines and where each class is defined.

    `inspect.getsourcelines` parses the whole module for every class it is asked about (Python 3.11's
    `inspect.findsource`), which made CC005 quadratic in the catalog's size: minutes for 300 specs
    in one `tracks.py`. One parse per file gives the same line numbers.

    Attributes:
        lines: the file's lines, for suppression comments.
        classes: each class's qualified name and its first line (its first decorator's, as `inspect`
            reports it); the first definition wins, as in `inspect`.
    """

    lines: list[str]
    classes: dict[str, int]


class _ClassLines(ast.NodeVisitor):
    """Collects every class's qualified name and first line, as `inspect._ClassFinder` names them."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.classes: dict[str, int] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        self.classes.setdefault(".".join(self.stack), first)
        self.generic_visit(node)
        self.stack.pop()


def _spec_source(path: Path) -> _SpecSource:
    """Read and parse one catalog source file (once per file: see `_SpecSource`)."""
    tree, lines = _parse(path)
    finder = _ClassLines()
    finder.visit(tree)
    return _SpecSource(lines, finder.classes)


def _unused_specs(catalog: Catalog, used: set[str]) -> Iterator[CodeFinding]:
    specs = [*catalog.registry.tracks, *catalog.registry.identifiers]
    sources: dict[str, _SpecSource] = {}
    for spec in specs:
        if spec.__name__ in used or spec.status is Status.PLANNED:
            continue
        source = inspect.getsourcefile(spec)
        path = Path(source) if source else CATALOG_PACKAGE
        lines: list[str] = []
        line = None
        if source and Path(source).is_file():
            if source not in sources:
                sources[source] = _spec_source(path)
            lines = sources[source].lines
            line = sources[source].classes.get(spec.__qualname__)
        if line is None:
            # Not a file on disk, or a class built where the parser cannot see it: let inspect say.
            line = inspect.getsourcelines(spec)[1]
        if _suppressed(lines, line, "CC005"):
            continue
        yield CodeFinding(
            _display(path), line, "CC005", f"spec {spec.__name__} is never used by the scanned code"
        )


@dataclass(frozen=True)
class CodeCheck:
    """What `check_paths` found, and in how many files (a path that holds no Python checks none).

    Attributes:
        findings: the findings, file by file, then unused specs.
        files: the Python files checked.
    """

    findings: list[CodeFinding]
    files: int


def check_paths(
    paths: Iterable[Path],
    *,
    catalog: Catalog = CATALOG,
    exclude: Sequence[str] = (),
    report_unused: bool = True,
) -> CodeCheck:
    """Check every Python file under `paths` against the catalog.

    Args:
        paths: files or directories to scan.
        catalog: the catalog event strings and specs are checked against.
        exclude: glob patterns of files to skip (matched against the path as given).
        report_unused: report catalog specs the scanned code never uses (CC005).

    Returns:
        The findings, file by file, then unused specs (only when application code was scanned), and
        how many files were checked.

    Raises:
        FileNotFoundError: a path does not exist.
        SyntaxError: a file is not valid Python, or cannot be decoded (with its name, and its line
            when known).
    """
    findings: list[CodeFinding] = []
    used: set[str] = set()
    scanned_application_code = False
    deprecated = _deprecated_specs(catalog)
    files = 0
    for path in iter_python_files(paths, exclude):
        files += 1
        tree, lines = _parse(path)
        in_catalog = path.resolve().is_relative_to(CATALOG_PACKAGE)
        scan = _FileScan(catalog=catalog, in_catalog=in_catalog, deprecated=deprecated)
        scan.visit(tree)
        findings.extend(
            CodeFinding(_display(path), line, code, message)
            for line, code, message in sorted(scan.findings)
            if not _suppressed(lines, line, code)
        )
        if not in_catalog:
            scanned_application_code = True
            used |= scan.used_names
    if report_unused and scanned_application_code:
        findings.extend(_unused_specs(catalog, used))
    return CodeCheck(findings, files)
