"""The live tester: pick an event, fill its scope and properties, preview, send, and see what happened.

One URL serves each page and its fragment (htmx requests get the partial, with `Vary: HX-Request`);
every control is also a plain link or form, so the tester works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import Forbidden, UnprocessableEntity

from analytics.audit import MESSAGE_TYPES, AuditEntry
from analytics.catalog import CATALOG, SpecInfo, personal_paths
from analytics.personal_data import reaches
from analytics.queries import message_name
from analytics.scopes import SCOPES
from webapp.actor import current_actor
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.catalog.filters import search_text
from webapp.extensions import csrf, db
from webapp.htmx import vary_on_htmx, wants_fragment
from webapp.limits import send_limit
from webapp.lookups import echoed, get_row
from webapp.tester import presets as preset_store
from webapp.tester.codegen import pytest_snippet, python_snippet
from webapp.tester.compose import Draft, compose, unknown_destination
from webapp.tester.destinations import DEFAULT_NAME, Destination
from webapp.tester.forms import (
    FIELDS,
    PROP,
    RAW,
    SCOPE,
    TesterInput,
    display_value,
    dump_raw,
    holds_one_value,
    input_from_form,
    new_token,
    parse_raw_object,
    property_fields,
    resolve_spec,
    scope_fields,
    scope_label,
    spec_query,
    token_problem,
)
from webapp.tester.models import ScopePreset
from webapp.tester.outcome_alone import outcome_alone
from webapp.tester.prefill import entry_spec, input_from_entry
from webapp.tester.queries import history, latest_scope_ids, presets, recent_ids
from webapp.tester.sending import (
    ADMINS_ONLY,
    SendResult,
    checked_destination,
    collector_copy,
    destination_named_by,
    destinations,
    find_destination,
    load_result,
    local_destination,
    send,
)
from webapp.tester.shown_json import message_digest, pretty_json

bp = Blueprint("tester", __name__)


@bp.app_template_test("in_catalog")
def in_catalog(entry: AuditEntry) -> bool:
    """Whether the tester can pre-fill a send from this entry: a link to do so would otherwise
    lead to a 404 ("… is not in today's catalog")."""
    return entry_spec(entry) is not None


@bp.app_template_filter("scope_line")
def scope_line(entry: AuditEntry) -> str:
    """A send's scope as the history lists it: `user 1 · project 12 · registry 7`, every id its
    event's scope adds (read from the payload: the entry's own columns hold only user, project and
    cluster)."""
    parts = [f"user {entry.user_id}"]
    info = CATALOG.events.get(entry.event or "")
    if info is None:
        parts += [
            f"{name} {value}"
            for name, value in (("project", entry.project_id), ("cluster", entry.cluster_id))
            if value
        ]
        return " · ".join(parts)
    properties = (entry.payload or {}).get("properties") or {}
    for field, name in info.scope.property_fields().items():
        if properties.get(name) is not None:
            parts.append(f"{field.removesuffix('_id').replace('_', ' ')} {properties[name]}")
    return " · ".join(parts)


def fragment(template: str, **context: Any) -> Response:
    """An htmx fragment; it varies on `HX-Request` like the pages that share its URL."""
    return vary_on_htmx(make_response(render_template(template, **context)))


def page_or_fragment(page: str, fragment_template: str, status: int = 200, **context: Any) -> Response:
    """Render the page, or for htmx its fragment; either way the response varies on `HX-Request`.

    htmx does not swap 4xx answers by default, so a fragment that carries field errors is a 200.
    """
    if wants_fragment():
        return fragment(fragment_template, **context)
    return vary_on_htmx(make_response(render_template(page, **context), status))


def spec_groups(query: str = "") -> list[tuple[str, list[SpecInfo]]]:
    """Events by category, then identify calls; only those matching every word of `query` (in
    any order, each a part of what the catalog's search looks through, its category, owner and
    scope among it: "cluster prov succ", `SegmentEvent.ClusterProvisioningSuccess`, `infra_id`,
    `eks`, `growth`)."""
    words = query.lower().split()
    groups: dict[str, list[SpecInfo]] = {}
    for info in [*CATALOG.events.values(), *CATALOG.identifiers.values()]:
        if search_text(info).finds(words):
            groups.setdefault(str(info.spec.category), []).append(info)
    return list(groups.items())


def apply_preset(
    typed: TesterInput, preset: ScopePreset, info: SpecInfo | None
) -> tuple[TesterInput, dict[str, str]]:
    """Fill the scope from a preset; ids the preset lacks are cleared and noted as still needed."""
    values = preset_store.preset_values(preset)
    notes = {}
    if info is not None:
        for name in info.scope.model_fields:
            if name not in values:
                notes[SCOPE + name] = f"Preset {preset.name!r} has no {name.replace('_', ' ')}: enter it."
    return replace(typed, scope={k: str(v) for k, v in values.items()}), notes


def render_tester(
    typed: TesterInput,
    *,
    errors: dict[str, str] | None = None,
    draft: Draft | None = None,
    notes: dict[str, str] | None = None,
    result: SendResult | None = None,
    notice: str | None = None,
    status: int = 200,
    sent: bool = False,
) -> Response:
    """The tester in a given state: the form as typed (with a fresh token), the preview, a result.

    Args:
        typed: what the form holds.
        errors: errors to show next to fields (a send's); None shows only those worth showing
            while typing.
        draft: the draft already composed for this input (a send's), else composed here.
        notes: further messages next to fields (a preset's missing ids, masked values to re-enter).
        result: a send's result for the result panel.
        notice: a message above the form.
        status: the page's status code.
        sent: the answer to a send just made (`result`), which the page's status region says; other
            redraws that keep a result on show say nothing of it.
    """
    typed = replace(typed.as_shown(), token=new_token())
    draft = draft or compose(typed, actor=current_actor())
    # A note says more than the field's validation error (why a switch did not happen, a preset's gap).
    shown = {**(draft.typing_errors() if errors is None else errors), **(notes or {})}
    response = page_or_fragment(
        "tester/index.html",
        "tester/_tester_swap.html",
        status,
        **tester_context(typed, draft, shown, result, notice),
        refused=errors is not None,
        sent=sent,
    )
    if wants_fragment() and draft.info is not None:
        response.headers["HX-Push-Url"] = state_url(typed, draft.info, result)
    return response


RAW_LEFT_OUT = (
    "This send's Raw JSON was too long to keep in the page's address: Edit and send again, in its "
    "result, fills the form with it."
)
"""Said above the form of a page drawn from a send's address without its Raw JSON (`state_url`)."""
STATE_URL_LIMIT = 4000
"""The longest address the tester puts a form's values in: gunicorn refuses a request line over 4,094
bytes (its `limit_request_line`), so a reload of a longer one would be an error page."""


def state_url(typed: TesterInput, info: SpecInfo, result: SendResult | None) -> str:
    """The tester's address for the form as it stands and the send it shows (`sent`), so that a
    reload, Back or Forward draws both again: `index` reads the same names as the form posts.

    Not the form's token (a form drawn again is a new send) nor a confirmation (it holds for one
    send), nor personal data, which the browser's history would keep: that field is left to enter
    again. Properties that would make the address too long are left out too (the send's "Edit and
    send again" still has them).
    """
    query = spec_query(info)
    if result is not None and result.entry is not None:
        query["sent"] = result.message_id
    if typed.destination != DEFAULT_NAME:
        query["destination"] = typed.destination
    scope = {SCOPE + name: str(value) for name, value in typed.scope.items() if value not in (None, "")}
    for values in ({**scope, **_properties_query(typed, info)}, scope, {}):
        # `mode` marks a form's values (an unticked box is false), not a link's `?event=`.
        form = {"mode": typed.mode, **values} if values or typed.mode == RAW else {}
        url = url_for("tester.index", **query, **form)
        if len(url) <= STATE_URL_LIMIT:
            break
    return url


def _properties_query(typed: TesterInput, info: SpecInfo) -> dict[str, str]:
    """The properties as the address carries them (see `state_url`): the raw editor's text, or each
    field's, without personal data."""
    if typed.mode == RAW:
        parsed = parse_raw_object(typed.raw)
        if parsed is None:
            return {}
        # `{}` stays: without it a reload drew an empty box, which is refused rather than read as `{}`.
        personal = personal_paths(info.spec, parsed)
        if not any(reaches(key, personal) for key in parsed):
            return {"raw": typed.raw}
        return {"raw": dump_raw({key: value for key, value in parsed.items() if not reaches(key, personal)})}
    personal = personal_paths(info.spec, typed.props)
    return {
        PROP + name: str(value).lower() if isinstance(value, bool) else str(display_value(value))
        for name, value in typed.props.items()
        if not reaches(name, personal) and value not in (None, "")
    }


def _presets(info: SpecInfo | None) -> dict[str, Any]:
    """The presets the scope box offers: those that fill the event's scope, the others folded."""
    every = db.session.scalars(presets()).all()
    fitting, others = preset_store.for_scope(every, info.scope) if info is not None else (list(every), [])
    many = len(every) >= preset_store.FILTER_AT
    return {"presets": fitting, "other_presets": others, "preset_filter": many}


def tester_context(
    typed: TesterInput, draft: Draft, errors: dict[str, str], result: SendResult | None, notice: str | None
) -> dict[str, Any]:
    """Everything the tester templates read."""
    info = draft.info
    scope_keys = set(info.scope.model_fields) if info is not None else set()
    # A pick or Choose keeps the picker's search: its options stay those the search found.
    query = request.values.get("q", "").strip()
    return {
        "typed": typed,
        "info": info,
        "draft": draft,
        "errors": errors,
        # A preset's name is no field of the message: its error is not one to fix before sending.
        "blocking": [key for key in errors if key != "preset_name"],
        "notice": notice,
        "query": query,
        "groups": spec_groups(query),
        "scope_fields": scope_fields(info.scope, typed.scope, errors) if info is not None else [],
        "property_fields": property_fields(info, typed.props, errors) if info is not None else [],
        "kept_scope": {k: v for k, v in typed.scope.items() if k not in scope_keys and v not in (None, "")},
        "destinations": destinations(),
        **_presets(info),
        "preset_summary": preset_store.summary,
        "recent": recent_ids(db.session.execute(latest_scope_ids())),
        "result": result,
        "collector_copy": collector_copy(result) if result is not None and result.sent is None else None,
        "received_url": received_url(result) if result is not None else None,
        "snippets": snippets(draft),
        "as_json": pretty_json,
        "rows": db.session.execute(history()).all() if not wants_fragment() else [],
        "mine": False,
        "message_name": message_name,
        "FIELDS": FIELDS,
        "RAW": RAW,
    }


def kept_result(values: Mapping[str, str]) -> SendResult | None:
    """The send a redraw of the form shows again: `sent`, which the result panel carries (a send made
    without htmx lands on `?sent=` too). Switching to Raw JSON or saving a preset keeps the panel."""
    message_id = values.get("sent")
    return load_result(message_id) if message_id else None


def received_url(result: SendResult) -> str | None:
    """Where the panel of a send just made asks for the collector's copy (None: none to ask for).

    The panel shows the outcome first and loads the copy after: asking the collector would
    otherwise hold up every send's answer. The digest of what was sent rides along, so that the
    copy can still be compared with it.
    """
    if result.sent is None or local_destination(result) is None:
        return None
    return url_for("tester.received", message_id=result.message_id, sent=message_digest(result.sent))


def render_sent(typed: TesterInput, result: SendResult) -> Response:
    """A send's htmx answer when the form shows nothing to redraw (no errors, no notice).

    Only what changes: the result panel, then out of band a fresh form token, the outcome beside
    the button, the next message's preview and emptied error slots (`tester/_sent.html`). Redrawing
    the whole form would read recent ids and presets again and re-render every field for nothing;
    the suggested ids reload after the answer instead (`recent_ids_view`), off the send's round trip.
    """
    typed = replace(typed, token=new_token())
    draft = compose(typed, actor=current_actor())
    response = fragment(
        "tester/_sent.html",
        **preview_context(typed, draft),
        typed=typed,
        result=result,
        received_url=received_url(result),
        RAW=RAW,
    )
    response.headers["HX-Retarget"] = "#result-slot"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def preview_context(typed: TesterInput, draft: Draft) -> dict[str, Any]:
    """What the preview and its fields' error slots read, for the answers that redraw only those."""
    info = draft.info
    return {
        "draft": draft,
        "info": info,
        "errors": draft.typing_errors(),
        "snippets": snippets(draft),
        "as_json": pretty_json,
        "scope_fields": scope_fields(info.scope, typed.scope, {}) if info is not None else [],
        # In raw mode the property inputs are not on the page: no error slots of theirs to empty.
        "property_fields": property_fields(info, typed.props, {})
        if info is not None and typed.mode != RAW
        else [],
    }


def snippets(draft: Draft) -> dict[str, str]:
    """ "Copy as Python" and "Copy as pytest" for a valid spec (off-schema drafts have no spec call)."""
    if draft.spec is None or draft.message is None:
        return {}
    return {"python": python_snippet(draft.spec), "pytest": pytest_snippet(draft.spec, draft.message)}


@bp.route("/", methods=["GET", "POST"])
@requires(Role.ENGINEER)
@csrf.exempt
def index() -> ResponseReturnValue:
    """The tester, in the state the query string describes (`?event=`, `?identify=`, `?from=`).

    The form's own redraws (another event, Fields/Raw, an example, a preset) POST the form as
    typed: a raw JSON of a few kilobytes is more than a URL carries (gunicorn refuses a request
    line over 4 KB). They only read, like a GET, so they carry no CSRF token: one that expired
    while someone typed would stop the form from redrawing.
    """
    args = request.values
    typed = input_from_form(args)
    notes: dict[str, str] = {}
    notice, status = None, 200
    if typed.mode == RAW and "raw" not in args and "sent" in args:
        # The address of a send whose Raw JSON was too long to carry (`state_url`): an empty raw box
        # would be refused, next to it and in the preview, as one typed blank. The form is drawn in
        # Fields, and the notice says where the JSON is.
        typed, notice = replace(typed, mode=FIELDS), RAW_LEFT_OUT
    if message_id := args.get("from"):
        # Messages only: an action is nothing to send again, and an account action is admins' to read.
        entry = db.session.scalar(
            select(AuditEntry).where(AuditEntry.message_id == message_id, AuditEntry.type.in_(MESSAGE_TYPES))
        )
        if entry is None:
            notice, status = f"No track or identify message has the id {echoed(message_id)!r}.", 404
        else:
            destination = destination_named_by(entry.destination)
            typed, notes = input_from_entry(entry, destination)
            # An event no longer in the catalog fills nothing: its note beside the picker says so alone.
            if entry_spec(entry) is not None:
                notice = _prefilled(entry, destination)
    info = resolve_spec(typed.spec)
    if typed.spec and info is None:
        status = 404
    if args.get("switch") in (FIELDS, RAW):
        if problem := typed.switch_problem(args["switch"], info):
            notes["raw"] = problem
        else:
            typed = typed.switched_to(args["switch"], info)
    if args.get("example") and info is not None:
        if typed.mode == RAW and parse_raw_object(typed.raw) is None:
            notes["raw"] = (
                "This is not a JSON object: fix it first, and the examples fill what it leaves out."
            )
        else:
            typed = typed.with_examples(info)
            if info.example_problem is not None:
                # The fields show their own errors; this says the catalog's examples are at fault.
                notice = (
                    f"The examples of {info.name} do not make a valid message ({info.example_problem}): "
                    "fix them in the spec (event-catalog lint reports them as EC016)."
                )
    if "apply_preset" in args:
        preset_id = args.get("apply_preset", type=int)
        preset = get_row(ScopePreset, preset_id) if preset_id is not None else None
        if preset_id is None:
            # A link cut short or an edited address: drawing the form without the preset said nothing.
            raw = echoed(args["apply_preset"])
            notice, status = f"{raw!r} is not a preset id: pick one under Presets.", 400
        elif preset is None:
            notice, status = "That preset no longer exists.", 404
        else:
            typed, notes = apply_preset(typed, preset, info)
    if find_destination(typed.destination) is None:
        # A shared link, or a destination since taken out of TESTER_DESTINATIONS: the form showed and
        # sent the default without a word, where a send naming it is refused.
        names = [d.name for d in destinations()]
        notes["destination"] = (
            f"{unknown_destination(typed.destination, names)} Send to shows {DEFAULT_NAME} until you do."
        )
        typed = replace(typed, destination=DEFAULT_NAME)
    return render_tester(typed, notes=notes, result=kept_result(args), notice=notice, status=status)


def _prefilled(entry: AuditEntry, destination: Destination | None) -> str:
    """The notice above a form filled from a stored message (`?from=`)."""
    notice = f"Pre-filled from message {entry.message_id} ({message_name(entry)}): a send gives it a new id."
    if destination is not None and entry.destination and destination.label != entry.destination:
        notice += (
            f" It went to {entry.destination}; {destination.name}'s key has changed since, "
            f"and this send uses the current one ({destination.fingerprint or 'no key: not sent'})."
        )
    return notice


def _to_the_tester() -> ResponseReturnValue:
    """A fragment's address opened as a page (a bookmark, a new tab): the tester with the same query.

    The query goes on as it came, every value of it: as `url_for` keywords, `endpoint` was a 500 and
    `_scheme`, `_anchor` or `_external` changed where the redirect went.
    """
    query = urlencode(list(request.args.items(multi=True)))
    return redirect(url_for("tester.index") + (f"?{query}" if query else ""), 303)


@bp.get("/specs")
@requires(Role.ENGINEER)
def specs() -> ResponseReturnValue:
    """The event picker filtered by `q` (the searchable select); without htmx, the tester itself."""
    if not wants_fragment():
        return _to_the_tester()
    query = request.args.get("q", "")
    return fragment(
        "tester/_pick.html",
        query=query,
        groups=spec_groups(query),
        info=resolve_spec(request.args.get("pick", "")),
    )


@bp.route("/preview", methods=["GET", "POST"])
@requires(Role.ENGINEER)
@csrf.exempt
def preview() -> ResponseReturnValue:
    """The message the form would send, and the errors next to its fields, as the engineer types.

    POSTed by the form, as its redraws are (`index`), so that a large raw JSON still previews.
    """
    if not wants_fragment():
        return _to_the_tester()
    typed = input_from_form(request.values)
    draft = compose(typed, actor=current_actor())
    return fragment("tester/_preview.html", **preview_context(typed, draft), oob=True)


@bp.post("/send")
@requires(Role.ENGINEER)
@send_limit
def send_view() -> ResponseReturnValue:
    """Send the form's message once (per form token), then show what really happened."""
    typed = input_from_form(request.form)
    if problem := token_problem(typed.token):
        # Only a forged or scripted form: the dashboard fills the hidden field itself. Refused as the
        # API refuses it: PostgreSQL's column holds 64 characters, and a longer one was a 500 there.
        raise UnprocessableEntity(f"The form's token {problem}: reload the tester for a new form.")
    actor = current_actor()
    draft = compose(typed, actor=actor)
    try:
        destination = checked_destination(draft)
    except Forbidden:
        # The API and the command line answer 403; the form says so next to the field.
        draft.errors["destination"] = ADMINS_ONLY
        return render_tester(typed, errors=draft.form_errors(), draft=draft, status=403)
    if not draft.ok or destination is None:
        return render_tester(typed, errors=draft.form_errors(), draft=draft, status=422)
    result = send(draft, destination, actor=actor)
    if not wants_fragment():
        return redirect(state_url(typed, draft.info, result), 303)
    # A fresh draft for the preview either way: the next send is a new message, with a new id. A
    # production confirmation holds for one send: the next one asks again.
    typed = replace(typed, confirm_production=False)
    redraw = request.form.get("redraw")
    try:
        response = render_tester(typed, result=result, sent=True) if redraw else render_sent(typed, result)
    except SQLAlchemyError as exc:
        return outcome_alone(result, exc)
    response.headers["HX-Trigger"] = "tester-sent"
    if not redraw:
        # The address now draws this form and this send's result again: a reload or Back keeps
        # them (a redraw's `render_tester` has set it already).
        response.headers["HX-Push-Url"] = state_url(typed, draft.info, result)
    return response


@bp.get("/sends/<message_id>")
@requires(Role.ENGINEER)
def send_result(message_id: str) -> ResponseReturnValue:
    """One send's result; htmx polls it while it is pending, and 286 stops the polling."""
    result = load_result(message_id)
    if result is None:
        abort(404, description=f"No tester send has the message id {echoed(message_id)!r}.")
    response = page_or_fragment(
        "tester/send.html",
        "tester/_result.html",
        result=result,
        collector_copy=collector_copy(result),
        as_json=pretty_json,
        message_name=message_name,
    )
    if wants_fragment() and result.final:
        response.status_code = 286
    return response


@bp.get("/sends/<message_id>/received")
@requires(Role.ENGINEER)
def received(message_id: str) -> ResponseReturnValue:
    """What the local collector received for a send: the panel of a send just made loads it.

    `sent` is the digest of what was sent, to say whether the copy is identical; when the collector
    has no copy to show, the answer says so. Without htmx, the send's own page shows it.
    """
    if not wants_fragment():
        return redirect(url_for("tester.send_result", message_id=message_id), 303)
    result = load_result(message_id)
    if result is None:
        abort(404, description=f"No tester send has the message id {echoed(message_id)!r}.")
    return fragment(
        "tester/_received.html",
        result=result,
        collector_copy=collector_copy(result),
        sent_digest=request.args.get("sent"),
        digest=message_digest,
        as_json=pretty_json,
    )


@bp.get("/recent-ids")
@requires(Role.ENGINEER)
def recent_ids_view() -> ResponseReturnValue:
    """The datalists of recently seen ids for a scope's inputs (`?scope=Cluster`); a send reloads them.

    Opened as a page (a bookmark, a new tab), the tester: the lists alone are a bare fragment.
    """
    if not wants_fragment():
        return redirect(url_for("tester.index"), 303)
    label = request.args.get("scope", "")
    scope = next((scope for scope in SCOPES if scope.label == label), None)
    if scope is None:
        abort(
            400, description=f"Unknown scope {echoed(label)!r}: one of {', '.join(s.label for s in SCOPES)}."
        )
    return fragment(
        "tester/_recent.html",
        scope_fields=scope_fields(scope, {}, {}),
        recent=recent_ids(db.session.execute(latest_scope_ids())),
    )


@bp.get("/history")
@requires(Role.ENGINEER)
def history_view() -> ResponseReturnValue:
    """The tester's recent sends with their outcomes (all of them, or `?mine=1`)."""
    mine = request.args.get("mine") == "1"
    rows = db.session.execute(history(actor=current_actor() if mine else None)).all()
    # On its own page "Only mine" goes into the address (a reload or Back keeps it); the tester's
    # page holds the same panel, whose address is the tester's.
    own_page = urlsplit(request.headers.get("HX-Current-URL", request.url)).path == request.path
    return page_or_fragment(
        "tester/history.html",
        "tester/_history.html",
        rows=rows,
        mine=mine,
        message_name=message_name,
        own_page=own_page,
        # Its "Only mine" form asked (HX-Trigger names it), not the panel's own refresh.
        filtered=request.headers.get("HX-Trigger") == "history-filter",
    )


@bp.route("/presets", methods=["GET", "POST"])
@requires(Role.ENGINEER)
def presets_view() -> ResponseReturnValue:
    """The team's scope presets: list, and save a new one (from this page or from the tester form)."""
    if request.method == "GET":
        return render_presets()
    from_tester = "preset_name" in request.form
    values = (
        {"name": request.form.get("preset_name", ""), **input_from_form(request.form).scope}
        if from_tester
        else request.form.to_dict()
    )
    ids, errors = preset_store.parse_preset(values)
    repeated = _repeated_preset_fields(request.form, from_tester=from_tester)
    if repeated:
        ids, errors = None, {**errors, **repeated}
    saved = preset_store.create_preset(ids, created_by=current_actor()) if ids is not None else None
    if ids is not None and saved is None:
        errors = {"name": f"A preset named {ids.name!r} already exists."}
    if from_tester:
        typed = input_from_form(request.form)
        result = kept_result(request.form)
        if saved is None:
            problems = [_preset_problem(key, text) for key, text in errors.items()]
            notes = {"preset_name": preset_store.in_one_line(problems)}
            return render_tester(typed, notes=notes, result=result)
        return render_tester(typed, notice=f"Saved the preset {saved.name!r}.", result=result)
    if saved is None:
        return render_presets(values=values, errors=errors, status=422)
    flash(f"Saved the preset {saved.name!r}.", "info")
    return redirect(url_for("tester.presets_view"), 303)


def _repeated_preset_fields(form: MultiDict[str, str], *, from_tester: bool) -> dict[str, str]:
    """Errors, by the preset's field, for a field the form gave more than once: saved with the
    first value, a preset kept an id the person did not see (the tester refuses a repeated field
    when it sends; the preset named and saved from it did not)."""
    fields = {"preset_name" if from_tester else "name": "name"}
    fields |= {(SCOPE + name if from_tester else name): name for name in preset_store.id_fields()}
    return {
        name: holds_one_value(form.getlist(key)) for key, name in fields.items() if len(form.getlist(key)) > 1
    }


def _preset_problem(key: str, text: str) -> str:
    """A preset's field error as the tester's one line under its Save preset box says it."""
    if key == "name" or key.replace("_", " ") in text:
        # The box beside the message is the name, and an id's message names its field ("Enter the
        # project id …"): such a message needs no label of its own.
        return text
    return f"{scope_label(key)}: {text}"


def render_presets(
    *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    """The presets page, with the creation form as typed."""
    return page_or_fragment(
        "tester/presets.html",
        "tester/presets.html",
        status,
        presets=db.session.scalars(presets()).all(),
        values=values or {},
        errors=errors or {},
        fields=preset_store.id_fields(),
        numbers=preset_store.number_fields(),
        label=scope_label,
        summary=preset_store.summary,
        level=preset_store.level,
    )


@bp.post("/presets/<int:preset_id>/delete")
@requires(Role.ENGINEER)
def delete_preset(preset_id: int) -> ResponseReturnValue:
    """Delete a preset (it only names ids; nothing sent with it changes).

    One already gone (a teammate deleted it first) is said on the list the answer goes back to,
    rather than a 404 the page's boosted form would not show.
    """
    preset = get_row(ScopePreset, preset_id)
    if preset is None:
        flash("That preset was already deleted.", "info")
    else:
        preset_store.delete_preset(preset, actor=current_actor())
        flash(f"Deleted the preset {preset.name!r}.", "info")
    return redirect(url_for("tester.presets_view"), 303)
