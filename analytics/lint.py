"""`event-catalog lint`: naming and completeness rules for the catalog.

The rules keep new events consistent; the shipped catalog breaks some of them in strings that
production data already carries. Those strings are not renamed (that would split every chart in
two): each is listed in `EXCEPTIONS` with the reason, and an exception that no longer matches a
finding is itself reported, so the list cannot go stale.

Codes:
    EC001 constant is not [Noun][Verb][Subverb] in PascalCase
    EC002 event string is not Title Case
    EC003 two event strings differ only in case, spacing or punctuation
    EC004 two constants differ only in case
    EC005 a spec or property has no description (a nested model's field too, named by its path)
    EC006 a property name is not snake_case (a nested model's field too)
    EC007 an enum constant has no track spec
    EC008 a track spec names an event that is not in the enum
    EC009 two specs for the same event (or identify name)
    EC010 event string does not start with the constant's noun (Object Action order)
    EC011 event string ends with the redundant word "Event"
    EC012 a documented exception matches no finding any more
    EC013 a property (or a nested model's field) named like personal data (email, phone, a person's
          name) is not marked `personal_data=True`, so the audit log would store it in the clear
    EC014 a deprecation that leads nowhere: `replaced_by` on an event still active or only planned, or
          naming the event itself, another deprecated event or a planned one (not sent yet)
    EC015 a spec that does not declare its scope: it inherits the user scope without saying so
    EC016 an example that does not validate against its own field (a property, a scope id, a nested
          model's field), or examples that together do not make a valid spec: the catalog's example
          message and snippet are built from them
    EC017 a free-form property (`dict[str, Any]`, `Any`; a nested model's field too) that does not say
          whether it holds personal data: the audit log masks only the keys inside it named like
          personal data, so `personal_data=True` masks it whole, `personal_data=False` says it holds none
          (then no key in it is masked)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from pydantic.fields import FieldInfo

from analytics.examples import example_problem, field_example_problems
from analytics.nested import field_paths, is_free_form
from analytics.personal_data import looks_personal
from analytics.spec import IdentifySpec, SpecRegistry, Status, TrackSpec, says_personal_data

EXCEPTIONS: Mapping[tuple[str, str], str] = {
    ("EC010", "UserCreate"): '"New User" is the sign-up event every growth dashboard is built on.',
    (
        "EC010",
        "ProjectCreate",
    ): '"New Project Event" has been sent since the first release; renaming splits history.',
    ("EC011", "ProjectCreate"): '"New Project Event" is kept for continuity with historical data (EC010).',
    ("EC010", "ApplicationDeploymentWebhook"): (
        '"Triggered Re-deploy via Webhook" is matched by name in the deployment-frequency report.'
    ),
    (
        "EC002",
        "ApplicationDeploymentWebhook",
    ): '"Triggered Re-deploy via Webhook" is kept as the report matches it (EC010).',
    ("EC010", "QuotaIncreaseRequested"): (
        '"AWS Quota Increase Requested" groups with the other AWS onboarding events in Segment.'
    ),
}
"""Findings accepted on purpose, keyed by (code, subject), with the reason."""

_WORD = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|$)|[A-Z][a-z0-9]*")
_PASCAL = re.compile(r"^(?:[A-Z]{2,}(?=[A-Z][a-z]|\d|$)|[A-Z][a-z0-9]+)+$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# Minor words that Title Case leaves in lower case unless they open or close the string.
_MINOR_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "via"}
)


@dataclass(frozen=True)
class Finding:
    """One broken rule.

    Attributes:
        code: the rule's code (`EC001`…).
        subject: what breaks it: an enum constant, spec class, `Spec.property` or, for a nested
            model's field, `Spec.property.field`.
        message: what is wrong, in one line.
    """

    code: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.code} {self.message}"


@dataclass
class LintReport:
    """Findings that fail the lint, and those accepted by a documented exception.

    Attributes:
        findings: what must be fixed (or excepted).
        excepted: findings matched by `EXCEPTIONS`, each with its reason.
    """

    findings: list[Finding] = field(default_factory=list)
    excepted: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the catalog passes."""
        return not self.findings


def pascal_words(constant: str) -> list[str]:
    """Split a PascalCase constant into words, keeping acronyms whole (`AWSInputted` → AWS, Inputted)."""
    return _WORD.findall(constant)


def is_title_case(text: str) -> bool:
    """Whether every word (and hyphenated part) is capitalised, minor words aside."""
    words = text.split()
    for position, word in enumerate(words):
        is_edge = position in (0, len(words) - 1)
        if not is_edge and word in _MINOR_WORDS:
            continue
        if any(not part[:1].isupper() and not part[:1].isdigit() for part in word.split("-")):
            return False
    return True


def is_snake_case(name: str) -> bool:
    """Whether a property name is snake_case (EC006)."""
    return _SNAKE.match(name) is not None


def _normalised(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _check_constants(events: type[Enum]) -> Iterable[Finding]:
    by_lower: dict[str, list[str]] = defaultdict(list)
    for constant in events.__members__:
        by_lower[constant.lower()].append(constant)
        if not _PASCAL.match(constant) or len(pascal_words(constant)) < 2:
            yield Finding("EC001", constant, "constant should be [Noun][Verb][Subverb] in PascalCase")
    for constants in by_lower.values():
        for other in constants[1:]:
            yield Finding("EC004", other, f"constant differs from {constants[0]} only in case")


def _check_strings(events: type[Enum]) -> Iterable[Finding]:
    by_normal: dict[str, list[str]] = defaultdict(list)
    for constant, member in events.__members__.items():
        text = str(member.value)
        by_normal[_normalised(text)].append(constant)
        if not is_title_case(text):
            yield Finding("EC002", constant, f'event string "{text}" is not Title Case')
        noun = pascal_words(constant)[:1]
        if noun and not text.casefold().startswith(noun[0].casefold()):
            yield Finding(
                "EC010", constant, f'event string "{text}" does not start with the noun "{noun[0]}"'
            )
        if text.split()[-1:] == ["Event"]:
            yield Finding("EC011", constant, f'event string "{text}" ends with the redundant word "Event"')
    for constants in by_normal.values():
        for other in constants[1:]:
            yield Finding("EC003", other, f"event string duplicates the one of {constants[0]}")


# Words that name a person's data; a name of a thing (`stack_name`, `company_name`) is not one.
def _check_spec(spec: type[TrackSpec] | type[IdentifySpec]) -> Iterable[Finding]:
    if not spec.summary():
        yield Finding("EC005", spec.__name__, "spec has no description (its docstring)")
    if "scope" not in vars(spec).get("__annotations__", {}):
        # A deleted `scope:` line silently made an event user-scoped: its ids went missing.
        yield Finding(
            "EC015", spec.__name__, "spec does not declare its scope (scope: UserScope, ProjectScope, …)"
        )
    names = dict(spec.own_fields())
    if issubclass(spec, TrackSpec):
        scope = spec.scope_class()
        names.update({prop: scope.model_fields[name] for name, prop in scope.property_fields().items()})
    personal = spec.personal_data_keys()
    # The fields of nested models too, by their path (`payment_method.payer_email`): their values are
    # sent, shown and masked like the spec's own.
    for path, info in field_paths(names):
        name = path.rsplit(".", 1)[-1]
        masked = any(path == key or path.startswith(f"{key}.") for key in personal)
        if looks_personal(name) and not masked:
            yield Finding(
                "EC013",
                f"{spec.__name__}.{path}",
                "looks like personal data: mark it prop(..., personal_data=True) so the audit log masks it",
            )
        if is_free_form(info.annotation) and not masked and not says_personal_data(info):
            yield Finding(
                "EC017",
                f"{spec.__name__}.{path}",
                "free-form value: the audit log masks only its keys named like personal data; say "
                "prop(..., personal_data=True) to mask it whole, or personal_data=False if it holds none "
                "(then no key in it is masked)",
            )
        if not _SNAKE.match(name):
            yield Finding("EC006", f"{spec.__name__}.{path}", "property name should be snake_case")
        if not info.description:
            yield Finding("EC005", f"{spec.__name__}.{path}", "property has no description")
    yield from _check_examples(spec, names)


def _check_examples(
    spec: type[TrackSpec] | type[IdentifySpec], fields: dict[str, FieldInfo]
) -> Iterable[Finding]:
    """Each example against its own field (nested models' too), then the spec built from them all:
    the catalog's example message, snippet and the tester's fill are built from them."""
    problems = list(field_example_problems(fields))
    for path, problem in problems:
        yield Finding("EC016", f"{spec.__name__}.{path}", f"example does not validate: {problem}")
    whole = None if problems else example_problem(spec)
    if whole is not None:
        yield Finding("EC016", spec.__name__, f"the examples do not make a valid spec: {whole}")


def _check_deprecations(registry: SpecRegistry) -> Iterable[Finding]:
    """A replacement is where the catalog, the tester and drift send people: it must be live."""
    status = {spec.event: spec.status for spec in registry.tracks}
    for spec in registry.tracks:
        replacement = spec.replaced_by
        if replacement is None:
            continue
        if spec.status is not Status.DEPRECATED:
            yield Finding(
                "EC014",
                spec.__name__,
                f'names a replacement ("{replacement}") but is {spec.status}, not deprecated',
            )
        elif replacement == spec.event:
            yield Finding("EC014", spec.__name__, "is deprecated in favour of itself")
        elif status.get(replacement) is Status.DEPRECATED:
            yield Finding(
                "EC014", spec.__name__, f'is deprecated in favour of "{replacement}", itself deprecated'
            )
        elif status.get(replacement) is Status.PLANNED:
            # Applications cannot send what is only planned: deprecate once the replacement ships.
            yield Finding(
                "EC014",
                spec.__name__,
                f'is deprecated in favour of "{replacement}", which is only planned: '
                "deprecate it once its replacement is active",
            )


def _check_coverage(events: type[Enum], registry: SpecRegistry) -> Iterable[Finding]:
    members = set(events.__members__.values())
    covered: dict[object, str] = {}
    for spec in registry.tracks:
        if spec.event not in members:
            yield Finding(
                "EC008", spec.__name__, f'track spec names "{spec.event}", which is not in the enum'
            )
        elif spec.event in covered:
            yield Finding(
                "EC009", spec.__name__, f'second spec for "{spec.event}" (first: {covered[spec.event]})'
            )
        else:
            covered[spec.event] = spec.__name__
    for constant, member in events.__members__.items():
        if member not in covered:
            yield Finding("EC007", constant, f'"{member.value}" has no track spec')
    names: dict[str, str] = {}
    for identifier in registry.identifiers:
        if identifier.name in names:
            yield Finding("EC009", identifier.__name__, f'second identify spec named "{identifier.name}"')
        names.setdefault(identifier.name, identifier.__name__)


def name_findings(events: type[Enum]) -> list[Finding]:
    """The naming rules alone (EC001 to EC004, EC010, EC011), for event names that are not in the
    catalog yet: `event-catalog import` reports those an imported plan breaks."""
    return [*_check_constants(events), *_check_strings(events)]


def lint(
    events: type[Enum],
    registry: SpecRegistry,
    exceptions: Mapping[tuple[str, str], str] = EXCEPTIONS,
) -> LintReport:
    """Check a catalog's names and completeness.

    Args:
        events: the enum of event names.
        registry: the specs.
        exceptions: findings accepted on purpose, keyed by (code, subject), with the reason.

    Returns:
        The findings that fail, and those accepted by an exception.
    """
    found: list[Finding] = [
        *_check_constants(events),
        *_check_strings(events),
        *_check_coverage(events, registry),
        *_check_deprecations(registry),
    ]
    for track in registry.tracks:
        found.extend(_check_spec(track))
    for identifier in registry.identifiers:
        found.extend(_check_spec(identifier))
    report = LintReport()
    used: set[tuple[str, str]] = set()
    for finding in found:
        key = (finding.code, finding.subject)
        if key in exceptions:
            used.add(key)
            report.excepted.append((finding, exceptions[key]))
        else:
            report.findings.append(finding)
    for code, subject in exceptions.keys() - used:
        report.findings.append(
            Finding("EC012", subject, f"exception for {code} matches no finding; remove it")
        )
    return report
