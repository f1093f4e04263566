"""The catalog in the shapes other tools read: JSON, JSON Schema, CSV, Markdown, Segment Protocols.

The dashboard's downloads, its `/api/catalog` and `event-catalog export` all render through here, so
a spreadsheet, a Protocols import and the API never disagree. Each format is an `ExportFormat` in
`FORMATS`; `render(name)` returns its text.

Segment Protocols (`segment-plan`) gets the body of the Public API's tracking-plan calls: `name`,
`type` (`LIVE`), `description` and `rules`, where each rule has `type` (`TRACK` or `IDENTIFY`),
`key` (the event string; none for identify), `version` (1) and `jsonSchema` (draft-07, the form
Protocols validates). In each `jsonSchema` we fill `description` (the whole docstring, as the
CSV's `event_description` has it), `labels` (category, owner, the owner's contact when
`TEAM_CONTACTS` has one, status, scope, the `SegmentEvent` constant) and `properties.properties`
(or `properties.traits`) with every property's type, allowed values, description, examples and
required list, with unknown properties refused. Segment keeps one identify rule per plan, so the
identify specs' traits are merged: a trait is required only when every identify spec requires it,
and the rule's `owner` and `status` labels name every identify spec's owner and status, once each
and comma-separated (`identity,billing`, `active,planned`: a label is one key with one text value).
We do not fill the plan's `COMMON` rule, `GROUP`, `PAGE` or `SCREEN` rules, `context` constraints,
or Segment's own ids and timestamps.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from analytics.catalog import CATALOG, Catalog, PropertyInfo, SpecInfo
from analytics.nested import field_paths, is_free_form
from analytics.spec import PERSONAL_DATA_KEY, IdentifySpec, Status, TrackSpec, contact_of, says_personal_data
from analytics.spreadsheet import spreadsheet_safe

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
PLAN_NAME = "event-catalog"

CSV_COLUMNS = (
    "event",
    "constant",
    "kind",
    "category",
    "owner",
    "owner_contact",
    "status",
    "replaced_by",
    "scope",
    "event_description",
    "property",
    "type",
    "required",
    "allowed_values",
    "bounds",
    "pattern",
    "example",
    "property_description",
    "personal_data",
    "added_by_scope",
)
"""The CSV's header: one row per event and property, a nested model's fields included by path
(`payment_method.kind`, `line_items[].quantity`; one row with empty property columns when an event
carries none)."""


def _spec_metadata(info: SpecInfo) -> dict[str, Any]:
    spec = info.spec
    replaced_by = spec.replaced_by if issubclass(spec, TrackSpec) else None
    contact = contact_of(spec.owner)
    return {
        "category": str(spec.category),
        "owner": str(spec.owner),
        # Who to ask (`TEAM_CONTACTS`), as one text: a CSV cell and a Segment label hold one value.
        "owner_contact": str(contact) if contact is not None else None,
        "status": str(spec.status),
        "replaced_by": str(replaced_by) if replaced_by is not None else None,
        "scope": info.scope.label,
    }


def spec_document(info: SpecInfo) -> dict[str, Any]:
    """One event or identify spec as JSON: metadata, the message's `userId`, properties and JSON Schema.

    `user_id` is the row the spec's page and the list's CSV lead its properties with: every message
    carries it, at its top level, so it stays out of `properties`, which hold the payload's own (what
    the JSON Schema describes) for the scripts that read them.

    The schema is a copy, as `Catalog.schema_bundle()` gives: a caller that edits the document must
    not edit the catalog's own, which every later document and bundle of the process is made from.
    """
    return {
        "name": info.name,
        "constant": info.constant,
        "kind": info.kind,
        "summary": info.spec.summary(),
        "description": info.spec.description(),
        **_spec_metadata(info),
        "personal_data": info.has_personal_data,
        "user_id": asdict(info.user_id),
        "properties": [asdict(prop) for prop in info.rows],
        "json_schema": copy.deepcopy(info.json_schema),
    }


def catalog_document(catalog: Catalog = CATALOG) -> dict[str, Any]:
    """The whole registry as JSON: what `/api/catalog` serves."""
    return {
        "version": catalog.version,
        "events": [spec_document(info) for info in catalog.events.values()],
        "identifiers": [spec_document(info) for info in catalog.identifiers.values()],
        "scopes": [
            {
                "label": scope.label,
                "description": scope.description,
                "parent": parent.label if (parent := scope.parent()) is not None else None,
                "properties": list(scope.property_fields().values()),
                "events": [info.name for info in catalog.events_using(scope)],
            }
            for scope in catalog.scopes
        ],
    }


def schema_bundle_document(catalog: Catalog = CATALOG) -> dict[str, Any]:
    """Every JSON Schema (draft 2020-12) keyed by event string and identify name, with the version."""
    return {"version": catalog.version, **catalog.schema_bundle()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _csv_rows(infos: Iterable[SpecInfo], *, user_id: bool = False) -> Iterator[dict[str, str]]:
    """The CSV's rows; with `user_id`, each spec's first row is the message's `userId`, as its page's
    property table leads with it."""
    for info in infos:
        event = {
            "event": info.name,
            "constant": info.constant,
            "kind": info.kind,
            **{key: _cell(value) for key, value in _spec_metadata(info).items()},
            # The whole docstring: its later paragraphs say when the event fires.
            "event_description": info.spec.description(),
        }
        carried = ((info.user_id,) if user_id else ()) + info.rows
        if not carried:
            yield {column: event.get(column, "") for column in CSV_COLUMNS}
        unsaid = _unsaid_free_form(info.spec)
        for prop in carried:
            yield {
                **event,
                "property": prop.name,
                "type": prop.type,
                "required": _cell(prop.required),
                "allowed_values": " | ".join(str(v) for v in prop.allowed_values or ()),
                "bounds": prop.bounds,
                "pattern": prop.pattern,
                "example": prop.example if isinstance(prop.example, str) else json.dumps(prop.example),
                "property_description": prop.description,
                "personal_data": "" if prop.name.replace("[]", "") in unsaid else _cell(prop.personal_data),
                "added_by_scope": _cell(prop.from_scope),
            }


def _unsaid_free_form(spec: type[TrackSpec | IdentifySpec]) -> frozenset[str]:
    """The paths of a spec's free-form values that do not say whether they hold personal data: their
    CSV cell is left blank, so that an import does not read the `no` of a typed property as the
    `personal_data=False` lint's EC017 asks of them."""
    return frozenset(
        path
        for path, field in field_paths(spec.property_fields())
        if is_free_form(field.annotation) and not says_personal_data(field)
    )


def spec_csv_lines(info: SpecInfo, *, user_id: bool = False) -> tuple[str, ...]:
    """One spec's rows of `specs_csv`, each without its line ending: the list's download keeps them
    (with the `userId` row its page shows) and adds its activity cells to every row, so the
    catalog's cells are written once a process."""
    lines = []
    for row in _csv_rows([info], user_id=user_id):
        out = io.StringIO()
        # The writer's own line ending, cut off after: with none, it would not quote a cell's line breaks.
        csv.DictWriter(out, fieldnames=CSV_COLUMNS).writerow(
            {column: spreadsheet_safe(cell) for column, cell in row.items()}
        )
        lines.append(out.getvalue().removesuffix("\r\n"))
    return tuple(lines)


def spec_csv(info: SpecInfo) -> str:
    """One spec's rows of `specs_csv`, without the header."""
    return "".join(line + "\r\n" for line in spec_csv_lines(info))


def specs_csv(infos: Iterable[SpecInfo]) -> str:
    """Specs × properties as CSV (RFC 4180 line endings), in the order given.

    Every cell is `spreadsheet_safe`: the text comes from code, but an example or a description that
    starts like a formula would still run in the spreadsheet of whoever opens the file.
    """
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=CSV_COLUMNS).writeheader()
    return out.getvalue() + "".join(spec_csv(info) for info in infos)


def list_csv(
    events: Iterable[tuple[SpecInfo, tuple[str, str]]],
    identifiers: Iterable[SpecInfo],
    activity_columns: tuple[str, str],
    *,
    lines: Callable[[SpecInfo], tuple[str, ...]] = spec_csv_lines,
) -> str:
    """The event list as CSV: `specs_csv`'s columns, then `activity_columns` (last seen, messages in
    the list's recent days), whose cells every row of an event repeats, so that a spreadsheet sorted
    or filtered by them keeps each property with its event; empty for an identify call, which the
    list shows no traffic of. The cells are an ISO time and a count: nothing a spreadsheet runs."""
    out = io.StringIO()
    csv.writer(out).writerow([*CSV_COLUMNS, *activity_columns])
    body = [f"{line},{','.join(cells)}\r\n" for info, cells in events for line in lines(info)]
    body += [f"{line},,\r\n" for info in identifiers for line in lines(info)]
    return out.getvalue() + "".join(body)


def events_csv(catalog: Catalog = CATALOG) -> str:
    """Events × properties as CSV (RFC 4180 line endings), identify specs last."""
    return specs_csv([*catalog.events.values(), *catalog.identifiers.values()])


def spec_json(info: SpecInfo) -> str:
    """`spec_document` as `list_json` writes it (indented by two spaces, no trailing newline)."""
    return _indented(spec_document(info))


def _indented(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _nested(text: str, depth: int) -> str:
    """Indented JSON text moved `depth` levels in. Every line break of `json.dumps`'s output is
    between tokens (a string's own line breaks are escaped), so indenting after each is exact."""
    return text.replace("\n", "\n" + "  " * depth)


def _with_activity(spec: str, activity: dict[str, Any] | None) -> str:
    """A spec's JSON text with `activity` added as its last member."""
    return spec[: -len("\n}")] + ',\n  "activity": ' + _nested(_indented(activity), 1) + "\n}"


def _array(items: list[str]) -> str:
    """A JSON array, at the top level, of items already indented as its elements."""
    if not items:
        return "[]"
    return "[\n    " + ",\n    ".join(items) + "\n  ]"


def list_json(
    events: Iterable[tuple[SpecInfo, dict[str, Any] | None]],
    identifiers: Iterable[SpecInfo],
    filters: Mapping[str, str],
    version: str,
    *,
    document: Callable[[SpecInfo], str] = spec_json,
) -> str:
    """A filtered view of the catalog as indented JSON text: the filters it was made with, then the
    specs it holds, each as `spec_document` (the shape `/api/catalog` serves them in), an event with
    what the list showed of its traffic (`activity`; null when the audit log could not be read).

    The text is `json.dumps(..., indent=2, ensure_ascii=False)` of that document, put together from
    each spec's own text (`document`, `spec_json` by default), which the dashboard keeps: at 300
    events, writing the specs' 1 MB again took 80 ms of each download, and only the activity changes
    between requests."""
    head = _indented({"version": version, "filters": dict(filters)})
    events_text = [_nested(_with_activity(document(info), activity), 2) for info, activity in events]
    identifiers_text = [_nested(document(info), 2) for info in identifiers]
    return (
        head[: -len("\n}")]
        + ',\n  "events": '
        + _array(events_text)
        + ',\n  "identifiers": '
        + _array(identifiers_text)
        + "\n}\n"
    )


def _md(value: Any) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _property_table(properties: tuple[PropertyInfo, ...]) -> list[str]:
    if not properties:
        return ["No properties beyond the user id.", ""]
    lines = [
        "| Property | Type | Required | Allowed values | Example | Description | Personal data |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for prop in properties:
        allowed = ", ".join(f"`{v}`" for v in prop.allowed_values) if prop.allowed_values else prop.bounds
        if prop.pattern:
            allowed = ", ".join(filter(None, [allowed, f"matches `{prop.pattern}`"]))
        lines.append(
            f"| `{prop.name}` | {_md(prop.type)} | {_cell(prop.required)} | {_md(allowed)} "
            f"| `{_md(json.dumps(prop.example))}` | {_md(prop.description)} | {_cell(prop.personal_data)} |"
        )
    return [*lines, ""]


def _markdown_section(info: SpecInfo) -> list[str]:
    meta = _spec_metadata(info)
    owner = f"{meta['owner']} ({_md(meta['owner_contact'])})" if meta["owner_contact"] else meta["owner"]
    facts = f"**Owner:** {owner} · **Scope:** {meta['scope']} · **Status:** {meta['status']}"
    if meta["replaced_by"]:
        facts += f" (use **{meta['replaced_by']}** instead)"
    elif meta["status"] == Status.PLANNED:
        facts += " (not sent by any application yet)"
    return [f"### {info.name}", "", info.spec.description(), "", facts, "", *_property_table(info.rows)]


def markdown_plan(catalog: Catalog = CATALOG) -> str:
    """A tracking plan in Markdown: events by category, then the identify calls."""
    lines = [
        "# Tracking plan",
        "",
        f"Catalog version `{catalog.version}`: {len(catalog.events)} events and "
        f"{len(catalog.identifiers)} identify calls. Generated by event-catalog; do not edit by hand.",
        "",
    ]
    categories: dict[str, list[SpecInfo]] = {}
    for info in catalog.events.values():
        categories.setdefault(str(info.spec.category), []).append(info)
    for category, infos in categories.items():
        lines += [f"## {category}", ""]
        for info in infos:
            lines += _markdown_section(info)
    lines += ["## Identify calls", ""]
    for info in catalog.identifiers.values():
        lines += _markdown_section(info)
    return "\n".join(lines).rstrip() + "\n"


def _draft_07(schema: Any, defs: dict[str, Any]) -> Any:
    """A 2020-12 subschema made draft-07 and self-contained: `$ref`s inlined, `x-` keywords dropped but
    `"x-personal-data"`, true or false (validators ignore unknown keywords): an import writes it back,
    so a personal field not named like personal data stays masked, and a free-form value keeps its
    answer to lint's EC017."""
    if isinstance(schema, list):
        return [_draft_07(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _draft_07(merged, defs)
    converted = {
        key: _draft_07(value, defs)
        for key, value in schema.items()
        if (not key.startswith(("x-", "$")) or key == PERSONAL_DATA_KEY)
        and key not in ("title", "properties")
    }
    if "properties" in schema:
        required = set(schema.get("required", ()))
        converted["properties"] = {
            name: _draft_07(prop if name in required else _never_null(prop), defs)
            for name, prop in schema["properties"].items()
        }
    return converted


_NULL = {"type": "null"}


def _never_null(schema: Any) -> Any:
    """An optional property's schema without the `null` its None default adds.

    A value left None is never sent (`own_values` leaves it out), so a plan that accepted null would
    describe a value nobody sends, and Segment's validation would let through a null it refused
    before: a Segment plan imported and exported again would read as loosened, a breaking change by
    `diff`'s rules. Optional, it is simply left out of `required`.
    """
    if not isinstance(schema, dict) or "default" not in schema or schema["default"] is not None:
        return schema
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or _NULL not in branches:
        return schema
    kept = [branch for branch in branches if branch != _NULL]
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}


def _payload_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The `properties` (or `traits`) object of a rule, from a spec's JSON Schema."""
    payload: dict[str, Any] = {
        "type": "object",
        "properties": _draft_07(
            {"properties": schema["properties"], "required": schema.get("required", [])},
            schema.get("$defs", {}),
        )["properties"],
        "additionalProperties": False,
    }
    if schema.get("required"):
        payload["required"] = list(schema["required"])
    return payload


LABEL_SEPARATOR = ","
"""Between the values of one label of the merged identify rule (its owners, its statuses): a Segment
label is a key with one text value, and the rule holds every identify spec, each with its own."""


def _merged_labels(identifiers: Iterable[SpecInfo]) -> dict[str, str]:
    """The merged rule's `owner` and `status` labels: each identify spec's, once each in first-seen
    order. The status is there so that a plan of planned identify calls imports back as planned."""
    infos = list(identifiers)
    return {
        label: LABEL_SEPARATOR.join(dict.fromkeys(str(getattr(info.spec, label)) for info in infos))
        for label in ("owner", "status")
    }


def _rule_schema(
    description: str, labels: dict[str, str], section: str, payload: dict[str, Any]
) -> dict[str, Any]:
    sections: dict[str, Any] = {"context": {}, "traits": {}, "properties": {}}
    sections[section] = payload
    return {
        "$schema": DRAFT_07,
        "type": "object",
        "description": description,
        "labels": labels,
        "properties": sections,
        "required": [section],
    }


def _merged_traits(identifiers: list[SpecInfo]) -> dict[str, Any]:
    payloads = [_payload_schema(info.json_schema) for info in identifiers]
    merged: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
    for payload in payloads:
        for name, prop in payload["properties"].items():
            merged["properties"].setdefault(name, prop)
    required = [
        name
        for name in merged["properties"]
        if all(name in payload.get("required", ()) for payload in payloads)
    ]
    if required:
        merged["required"] = required
    return merged


def segment_plan(catalog: Catalog = CATALOG) -> dict[str, Any]:
    """The tracking plan as Segment Protocols' Public API takes it (see the module docstring)."""
    rules: list[dict[str, Any]] = []
    for info in catalog.events.values():
        meta = _spec_metadata(info)
        labels = {key: str(value) for key, value in meta.items() if value is not None}
        # The `SegmentEvent` constant, which applications name the event by: an import keeps it.
        labels["constant"] = info.constant
        payload = _payload_schema(info.json_schema)
        schema = _rule_schema(info.spec.description(), labels, "properties", payload)
        rules.append({"type": "TRACK", "key": info.name, "version": 1, "jsonSchema": schema})
    identifiers = list(catalog.identifiers.values())
    if identifiers:
        names = ", ".join(info.name for info in identifiers)
        schema = _rule_schema(
            f"Traits sent on {names}.",
            _merged_labels(identifiers),
            "traits",
            _merged_traits(identifiers),
        )
        rules.append({"type": "IDENTIFY", "key": None, "version": 1, "jsonSchema": schema})
    return {
        "name": PLAN_NAME,
        "type": "LIVE",
        "description": f"Exported from event-catalog, catalog version {catalog.version}.",
        "rules": rules,
    }


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


@dataclass(frozen=True)
class ExportFormat:
    """One export: how to render it and how to hand it over as a file.

    Attributes:
        name: the `--format` value and the download's URL segment.
        label: what the dashboard calls it.
        media_type: the HTTP `Content-Type` (without charset).
        filename: the download's file name.
        encoding: the file's encoding; CSV carries a byte-order mark so spreadsheets detect UTF-8.
        render: the catalog → text function.
    """

    name: str
    label: str
    media_type: str
    filename: str
    encoding: str
    render: Callable[[Catalog], str]


FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (
        ExportFormat(
            "jsonschema",
            "JSON Schema bundle",
            "application/schema+json",
            "event-catalog.schema.json",
            "utf-8",
            lambda catalog: _json(schema_bundle_document(catalog)),
        ),
        ExportFormat("csv", "Spreadsheet (CSV)", "text/csv", "event-catalog.csv", "utf-8-sig", events_csv),
        ExportFormat(
            "markdown",
            "Tracking plan (Markdown)",
            "text/markdown",
            "tracking-plan.md",
            "utf-8",
            markdown_plan,
        ),
        ExportFormat(
            "segment-plan",
            "Segment Protocols tracking plan",
            "application/json",
            "segment-tracking-plan.json",
            "utf-8",
            lambda catalog: _json(segment_plan(catalog)),
        ),
    )
}
"""Every export format by name, in the order the dashboard lists them."""


def render(name: str, catalog: Catalog = CATALOG) -> str:
    """Render the catalog in one format.

    Raises:
        KeyError: no such format.
    """
    return FORMATS[name].render(catalog)
