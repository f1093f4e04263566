"""Every page, in its ordinary and its error states, passes axe-core's accessibility rules in Chromium.

axe-core (from the npm registry, with htmx) checks what a reviewer would otherwise check by hand on each
change: labels tied to their fields, contrast, landmarks, heading order, names of links and buttons,
valid ARIA. It runs in the page as served, after htmx has drawn it, so fragments swapped in count too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from auditlog import record, record_delivery
from browser_helpers import wait_until_htmx_has
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import delete

from analytics.actions import record_action
from analytics.audit import AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.tester.models import ScopePreset

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

# Each violation as one line: its impact, rule, help text and the first elements it names.
_RUN_AXE = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(
    v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join("; ")})`)"""


# The words of every live region the page shows, polite or assertive, declared or implied by a role: what
# a screen reader may read out after an update.
_LIVE_TEXT = """() => [
    ...document.querySelectorAll("[aria-live], [role=status], [role=alert], [role=log], output")
].filter(region => region.checkVisibility() && region.getAttribute("aria-live") !== "off")
    .map(region => region.textContent.replace(/\\s+/g, " ").trim())
    .filter(text => text !== "")"""


def _live_text(page: Page) -> list[str]:
    found: list[str] = page.evaluate(_LIVE_TEXT)
    return found


# Each visible form control's border colour and the background it stands on (its nearest ancestor that
# paints one), and each histogram bar's fill and the card it is drawn on.
_EDGES = """() => {
    const ground = element => {
        for (let up = element.parentElement; up !== null; up = up.parentElement) {
            const colour = getComputedStyle(up).backgroundColor;
            if (colour !== "rgba(0, 0, 0, 0)") return colour;
        }
        return "rgb(255, 255, 255)";
    };
    const controls = [...document.querySelectorAll(
        "input:not([type=hidden], [type=checkbox], [type=radio]), select, textarea"
    )].filter(control => control.checkVisibility()).map(
        control => [control.id || control.name, getComputedStyle(control).borderTopColor, ground(control)]);
    const bars = [...document.querySelectorAll("rect.hist-bar")].map(
        bar => [bar.getAttribute("class"), getComputedStyle(bar).fill, ground(bar)]);
    return [...controls, ...bars];
}"""


def _contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two computed `rgb(r, g, b)` colours."""

    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _violations(page: Page) -> list[str]:
    """axe-core's findings on the page as it is now (injected through the DevTools protocol, which the
    Content-Security-Policy does not govern)."""
    if page.evaluate("typeof axe") == "undefined":
        page.evaluate(AXE.read_text())
    found: list[str] = page.evaluate(_RUN_AXE)
    return found


def _check(page: Page, url: str, then: Callable[[Page], Any] | None = None) -> list[str]:
    """axe-core's findings on the page at `url`, after `then`, with every disclosure open: axe skips what
    a closed `<details>` hides (the schema, the snippets, a send's copies of its message)."""
    page.goto(url)
    if then is not None:
        then(page)
    page.evaluate("document.querySelectorAll('details').forEach(disclosure => { disclosure.open = true; })")
    return [f"{url}: {finding}" for finding in _violations(page)]


def _send_empty_tester_form(page: Page) -> None:
    wait_until_htmx_has(page, "#tester-form")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_contain_text("to fix before sending")
    # The answer is drawn a moment before htmx hides the "Sending…" status of its request.
    expect(page.get_by_text("Sending… waiting for the endpoint's answer")).to_be_hidden()


def _submit_empty(page: Page) -> None:
    """Submit the page's entry form (the one the server validates) as it is, so its errors show."""
    page.locator("main form[novalidate] button[type=submit]").click()
    expect(page.locator('[aria-invalid="true"]').first).to_be_visible()


def test_every_page_passes_axe_in_its_usual_and_its_error_states(
    live_server: str, page: Page, browser: Browser, sqlite_url: str
) -> None:
    assert AXE.is_file(), f"{AXE} is missing: `make install` fetches it from the npm registry"
    store = AuditStore(create_audit_engine(sqlite_url))
    record_delivery(store, AuditStatus.DELIVERED)
    failed = record_delivery(store, AuditStatus.FAILED, http_status=503, error="upstream unavailable")
    # A value longer than any box is wide: the blocks that show the message scroll sideways.
    long = record(
        store,
        "ProvisioningFailure",
        scope={"user_id": 1, "project_id": 12},
        properties={"cloud_provider": "aws", "error_message": "quota exceeded " * 20},
        status="failed",
        source="tester",
    )
    store.engine.dispose()

    found: list[str] = []
    for path in (
        "/",
        "/?q=no+such+event",
        "/events/ClusterProvisioningSuccess",
        "/identifiers",
        "/identifiers/RegisterIdentify",
        "/scopes",
        "/changes",
        "/downloads",
        "/tester/?event=ClusterProvisioningSuccess",
        "/tester/history",
        "/tester/presets",
        "/audit/",
        "/audit/?user_id=abc&since=yesterdayish",
        f"/audit/entries/{failed}",
        f"/audit/entries/{long}",
        f"/tester/sends/{long}",
        f"/tester/?from={long}",
        "/audit/replay/?status=failed",
        "/health",
        "/health?window=yesterday",
        "/users",
        "/account/tokens",
        "/account/password",
        "/nowhere",
    ):
        found += _check(page, live_server + path)
    found += _check(page, live_server + "/tester/?event=ClusterProvisioningSuccess", _send_empty_tester_form)
    for path in ("/users", "/account/password", "/account/tokens", "/tester/presets"):
        found += [f"{line} (submitted empty)" for line in _check(page, live_server + path, _submit_empty)]
    # A laptop at 200% zoom (1280×720 is 640×360 CSS pixels): a snippet's longer lines no longer fit.
    page.set_viewport_size({"width": 640, "height": 360})
    for path in ("/events/ApplicationLaunchSuccess", f"/tester/sends/{long}"):
        found += [f"{line} (200% zoom)" for line in _check(page, live_server + path)]
    # The sign-in page, as someone signed out sees it (`page` is signed in: /login would redirect).
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    signed_out = context.new_page()
    found += _check(signed_out, live_server + "/login")
    found += [
        f"{line} (submitted empty)" for line in _check(signed_out, live_server + "/login", _submit_empty)
    ]
    context.close()
    assert found == [], "\n".join(found)


# Each data cell of the page's tables that is shown with no column name: no `data-label` drawn before it.
# A cell of a column whose name is only for screen readers (a row's actions), or across columns, needs none.
_UNLABELLED_CELLS = """() => [...document.querySelectorAll("main table tbody td")].filter(cell => {
    if (!cell.checkVisibility() || cell.colSpan > 1) return false;
    const header = cell.closest("table").querySelectorAll("thead th")[cell.cellIndex];
    const hidden = header?.querySelector(".visually-hidden");
    if (hidden && hidden.textContent.trim() === header.textContent.trim()) return false;
    return ["none", "normal", '""'].includes(getComputedStyle(cell, "::before").content);
}).map(cell => `${cell.closest("table").className || "table"}: ${cell.textContent.trim().slice(0, 30)}`)"""


def test_stacked_tables_name_each_value_at_200_percent_zoom(
    live_server: str, page: Page, sqlite_url: str, make_account: Callable[..., str]
) -> None:
    """Narrower than 40rem (a 1280×720 laptop at 200%) every table stacks its rows into blocks and hides its
    head: the tester's history, the health page's latest errors, the users and the presets showed their
    values with nothing to say which column each came from."""
    store = AuditStore(create_audit_engine(sqlite_url))
    failed = record_delivery(
        store, AuditStatus.FAILED, destination="local:0123456789ab", http_status=400, error="bad request"
    )
    record_delivery(store, AuditStatus.FAILED, http_status=503, error="upstream unavailable")  # to replay
    store.engine.dispose()
    make_account(Role.VIEWER)
    page.goto(live_server + "/tester/presets")
    page.locator("#p-name").fill("staging")
    page.locator("#p-user_id").fill("5")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("main .flash")).to_have_text("Saved the preset 'staging'.")  # a boosted save
    page.goto(live_server + "/account/tokens")
    page.get_by_label("Name").fill("release CI")
    page.get_by_role("button", name="Create the token").click()

    page.set_viewport_size({"width": 640, "height": 360})
    unlabelled: list[str] = []
    tables = 0
    for path in (
        "/",
        "/identifiers",
        "/tester/history",
        "/tester/presets",
        "/audit/",
        f"/audit/entries/{failed}",
        "/audit/replay/?status=failed",
        "/health",
        "/users/",
        "/account/tokens",
    ):
        page.goto(live_server + path)
        tables += page.locator("main table").count()
        unlabelled += [f"{path} {cell}" for cell in page.evaluate(_UNLABELLED_CELLS)]
    assert tables >= 10
    assert unlabelled == [], "\n".join(unlabelled)


def _repeated_names(page: Page) -> list[str]:
    """The names that more than one button or link of the page's main part goes by, as a screen reader's
    list of them shows them."""
    names = re.findall(r'- (button|link) "([^"]*)"', page.locator("main").aria_snapshot())
    return sorted({f"{role} {name!r}" for role, name in names if names.count((role, name)) > 1})


def test_a_row_s_controls_say_which_row_they_act_on(
    live_server: str, page: Page, sqlite_store: AuditStore, make_account: Callable[..., str]
) -> None:
    """Every row of the users page had a "Save" and a "Disable" button, every send of the tester's history
    a "Result", an "Audit" and an "Edit and send" link, and both snippets of the preview a "Copy" button:
    a list of the page's controls could not tell them apart."""
    make_account(Role.VIEWER)
    make_account(Role.ENGINEER)
    sent = [
        record(
            sqlite_store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 12},
            source="tester",
            recorded_at=datetime.now(UTC) - timedelta(minutes=minutes),
        )
        for minutes in (1, 2)
    ]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(live_server + "/users/")
    expect(page.get_by_role("button", name="Save the role of viewer@example.com")).to_be_visible()
    expect(page.get_by_role("button", name="Disable engineer@example.com")).to_be_visible()
    repeated = [f"/users/: {name}" for name in _repeated_names(page)]
    page.goto(live_server + "/tester/history")
    expect(page.locator(f"#history-edit-{sent[0]}")).to_have_accessible_name(
        re.compile(r"^Edit and send of New Project Event at \d\d:\d\d:\d\d$")
    )
    repeated += [f"/tester/history: {name}" for name in _repeated_names(page)]
    page.goto(live_server + f"/tester/?from={sent[0]}")
    page.evaluate(
        "document.querySelectorAll('#preview details').forEach(snippet => { snippet.open = true; })"
    )
    repeated += [f"/tester/: {name}" for name in _repeated_names(page)]
    assert repeated == []
    page.get_by_role("button", name="Copy the pytest snippet").click()
    expect(page.get_by_role("button", name="Copied the pytest snippet")).to_be_visible()
    expect(page.locator("#tester-status")).to_have_text("Copied the pytest snippet.")


def test_a_catalog_search_or_sort_announces_how_many_events_match_not_the_table(
    live_server: str, page: Page
) -> None:
    page.goto(live_server + "/")
    wait_until_htmx_has(page, "#filters")
    assert _live_text(page) == []
    page.get_by_label("Search").fill("cluster")
    expect(page).to_have_url(f"{live_server}/?q=cluster")
    said = f"{page.locator('table.events tbody tr').count()} of {len(CATALOG.events)} events match."
    expect(page.locator("#results-status")).to_have_text(said)
    assert page.locator("#results [aria-live], #results [role=status]").count() == 0
    assert _live_text(page) == [said]
    page.locator("#sort-name").click()
    expect(page).to_have_url(f"{live_server}/?q=cluster&sort=name")
    assert _live_text(page) == [said]


def _described_fields(page: Page, scope: str) -> dict[str, str | None]:
    """Each error showing in `scope`, by its text: whether the field it describes is marked invalid."""
    found: dict[str, str | None] = {}
    for error in page.locator(f"{scope} .field-error").all():
        text = (error.text_content() or "").strip()
        if text:
            field = page.locator(f'[aria-describedby~="{error.get_attribute("id")}"]')
            found[f"{error.get_attribute('id')}: {text}"] = field.get_attribute("aria-invalid")
    return found


def test_a_refused_send_says_once_what_to_fix_and_each_error_describes_its_field(
    live_server: str, page: Page
) -> None:
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    _send_empty_tester_form(page)
    said = [f"{page.locator('#send-outcome').text_content().split(':')[0].strip()}."]  # type: ignore[union-attr]
    assert _live_text(page) == said
    errors = _described_fields(page, "#tester")
    assert len(errors) > 1 and set(errors.values()) == {"true"}, errors
    # The preview redraws the error slots while the user types in another field: nothing is alerted.
    with page.expect_response(lambda response: response.url.endswith("/tester/preview")):
        page.locator("#tester-form input[type=number]").last.fill("12")
    assert page.locator("#tester [role=alert]").count() == 0
    assert _live_text(page) == said


def test_filter_and_preset_errors_describe_their_fields_without_an_alert_each(
    live_server: str, page: Page
) -> None:
    page.goto(live_server + "/?category=Nope&owner=zzz")
    assert _live_text(page) == []
    assert set(_described_fields(page, "#filters").values()) == {"true"}
    page.goto(live_server + "/audit/?user_id=abc&since=yesterdayish&project=twelve")
    assert _live_text(page) == []
    assert set(_described_fields(page, "#audit-filters").values()) == {"true"}
    page.goto(live_server + "/tester/presets")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("#p-name")).to_be_focused()  # the boosted form's answer is in
    assert len(_described_fields(page, ".preset-form")) == 2
    assert _live_text(page) == []
    # A gap in the chain was an alert under the form, beside no field: it is the missing field's error.
    page.locator("#p-name").fill("staging")
    page.locator("#p-user_id").fill("5")
    page.locator("#p-cluster_id").fill("4")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("#p-project_id")).to_be_focused()
    assert _described_fields(page, ".preset-form") == {
        "error-p-project_id: Enter the project id: a cluster id needs the project id it belongs to.": "true"
    }
    assert _live_text(page) == []
    page.locator("#p-cluster_id").fill("")
    # Saved, the preset's Delete button names it, as the tokens' Revoke does.
    page.locator("#p-name").fill("staging")
    page.locator("#p-user_id").fill("5")
    page.get_by_role("button", name="Save preset").click()
    expect(page.get_by_role("button", name="Delete the preset staging", exact=True)).to_be_visible()


def test_form_controls_and_histogram_bars_stand_out_three_to_one(
    live_server: str, page: Page, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    statuses = ("delivered", "pending", "failed", "dropped", "disabled")
    for status in statuses:
        record_delivery(store, AuditStatus(status))
    store.engine.dispose()
    faint: list[str] = []
    drawn: set[str] = set()
    for path in ("/", "/audit/", "/tester/?event=ClusterProvisioningSuccess", "/tester/presets", "/users"):
        page.goto(live_server + path)
        edges = page.evaluate(_EDGES)
        drawn |= {name for name, _, _ in edges}
        faint += [
            f"{path} {name}: {edge} on {ground}"
            for name, edge, ground in edges
            if _contrast(edge, ground) < 3
        ]
    assert {f"hist-bar status-{status}" for status in statuses} <= drawn
    assert {"q", "filter-user_id", "p-name", "f-scope-user_id"} <= drawn
    assert faint == [], "\n".join(faint)


# Each histogram segment and legend swatch: its status, its texture (the pattern over its colour, or none)
# and, for a segment, the colour and width of the line around it.
_TEXTURES = """() => [...document.querySelectorAll("rect.hist-bar, .histogram .swatch")].map(shown => {
    const status = [...shown.classList].find(name => name.startsWith("status-")).slice("status-".length);
    const over = shown.matches("rect") ? shown.nextElementSibling : shown.querySelector("rect");
    const texture = over?.matches(".hist-texture-fill") ? over.getAttribute("fill") : "plain";
    const style = getComputedStyle(shown);
    return [shown.matches("rect") ? "bar" : "legend", status, texture, style.stroke, style.strokeWidth];
})"""


def test_histogram_statuses_differ_by_more_than_colour_and_a_focused_bar_shows_its_counts(
    live_server: str, page: Page, sqlite_url: str
) -> None:
    """The stacked segments differed by hue alone, at about 1.05:1 from one another (the statuses' colours
    are text colours, all dark): a failed cap on a delivered bar vanished for red-green colour blindness.
    A bar's counts were in its aria-label and a tooltip the mouse opens: the keyboard saw none."""
    store = AuditStore(create_audit_engine(sqlite_url))
    statuses = ("delivered", "pending", "failed", "dropped", "disabled")
    recorded = datetime.now(UTC) - timedelta(minutes=1)  # one moment: one bar
    for status in statuses:
        record_delivery(store, AuditStatus(status), recorded=recorded)
    store.engine.dispose()
    page.goto(live_server + "/audit/")
    shown = page.evaluate(_TEXTURES)
    textures: dict[str, set[str]] = {}
    for _, status, texture, _, _ in shown:
        textures.setdefault(status, set()).add(texture)
    assert set(textures) == set(statuses)
    assert all(len(drawn) == 1 for drawn in textures.values()), textures  # bars and legend alike
    assert len(set.union(*textures.values())) == len(statuses), textures
    card = page.evaluate("getComputedStyle(document.querySelector('.histogram')).backgroundColor")
    # A line of the card's colour parts the segments of a bar; each texture stands out 3:1 from its colour.
    assert {(stroke, width) for kind, _, _, stroke, width in shown if kind == "bar"} == {(card, "1px")}
    for status in statuses[1:]:
        lines = page.locator(f"#hist-texture-{status} :is(path, circle)").evaluate(
            "mark => getComputedStyle(mark)[mark.matches('circle') ? 'fill' : 'stroke']"
        )
        colour = page.locator(f"rect.hist-bar.status-{status}").evaluate("bar => getComputedStyle(bar).fill")
        assert lines == card and _contrast(lines, colour) >= 3, (status, lines, colour)

    bar = page.locator(".histogram svg a:not([tabindex])")
    expect(bar.locator(".hist-readout")).to_be_hidden()
    page.locator("#hist-legend-delivered").focus()
    page.keyboard.press("Shift+Tab")
    expect(bar).to_be_focused()
    label = bar.get_attribute("aria-label")
    assert label and "5 entries (1 delivered, 1 disabled, 1 pending, 1 dropped, 1 failed)" in label
    expect(bar.locator(".hist-readout")).to_be_visible()
    expect(bar.locator(".hist-readout")).to_have_text(label)


# Each audit status the page shows — a badge's text, a histogram bar's fill, a legend swatch — as its
# status and the colour it is drawn in.
_STATUS_COLOURS = """() => [
    ...document.querySelectorAll(".audit-status, rect.hist-bar, .histogram .swatch")
].map(shown => {
    const status = [...shown.classList].find(name => name.startsWith("status-")).slice("status-".length);
    const style = getComputedStyle(shown);
    const colour = shown.matches("rect") ? style.fill : shown.matches(".swatch") ? style.backgroundColor
        : style.color;
    return [status, colour];
})"""


def test_an_audit_status_has_one_colour_on_every_page(live_server: str, page: Page, sqlite_url: str) -> None:
    """A dropped entry was red on the event page and in the tester, amber in the audit log; pending was
    grey, amber or blue; the histogram's bars had colours of their own."""
    store = AuditStore(create_audit_engine(sqlite_url))
    statuses = [status for status in AuditStatus if status != AuditStatus.RECORDED]
    for status in statuses:
        record_delivery(store, status, http_status=503 if status == AuditStatus.FAILED else None)
        record_delivery(store, status, destination="local:0123456789ab")
    record_action(store, "Scope Preset Saved", actor="engineer@example.com", properties={"name": "staging"})
    store.engine.dispose()

    drawn: dict[str, set[tuple[str, str]]] = {}
    pages = ("/audit/", "/events/ClusterProvisioningSuccess", "/tester/history", "/health", "/audit/replay/")
    for path in pages:
        page.goto(live_server + path)
        shown = page.evaluate(_STATUS_COLOURS)
        assert shown, f"{path} shows no status"
        for status, colour in shown:
            drawn.setdefault(status, set()).add((colour, path))
    colours = {status: {colour for colour, _ in seen} for status, seen in drawn.items()}
    assert set(colours) == set(AuditStatus)
    assert all(len(colour) == 1 for colour in colours.values()), drawn
    assert len(set.union(*colours.values())) == len(AuditStatus), f"two statuses share a colour: {colours}"


# Each labelled control of the page's forms: its id, whether its label shows the asterisk, and whether
# the control itself says it is required.
_REQUIRED = """() => [...document.querySelectorAll("main label")].filter(label => label.control).map(
    label => [label.control.id, label.querySelector("abbr.required") !== null,
              label.control.getAttribute("aria-required") === "true"])"""


def test_fields_marked_required_say_so_to_assistive_technology(live_server: str, page: Page) -> None:
    for path in ("/tester/?event=ClusterProvisioningSuccess", "/tester/presets"):
        page.goto(live_server + path)
        controls = page.evaluate(_REQUIRED)
        assert any(marked for _, marked, _ in controls), path
        assert [(path, id_, marked) for id_, marked, said in controls if marked != said] == []
    # The asterisk is not read out as part of the field's name.
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_attribute("aria-required", "true")
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    _send_empty_tester_form(page)
    expect(page.locator("#send-outcome")).to_contain_text("fields to fix before sending")


def test_a_send_and_a_refused_one_are_said_by_a_status_region_the_redraw_keeps(
    live_server: str, page: Page
) -> None:
    """The outcome beside Send arrived in a freshly inserted element, which screen readers do not read out."""
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    status = page.get_by_role("status").and_(page.locator("#tester-status"))
    status.evaluate("element => { element.dataset.kept = 'yes'; }")
    _send_empty_tester_form(page)
    expect(status).to_have_text(re.compile(r"^\d+ fields to fix before sending\.$"))
    expect(status).to_have_attribute("data-kept", "yes")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#send-outcome")).to_be_empty()
    expect(status).to_have_text("")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(status).to_have_text("delivered HTTP 200")
    expect(status).to_have_attribute("data-kept", "yes")


def test_a_send_after_a_refused_one_is_said_too(live_server: str, page: Page) -> None:
    """A form showing errors is redrawn whole by its next send, whose outcome went unsaid."""
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    _send_empty_tester_form(page)
    status = page.locator("#tester-status")
    expect(status).to_have_text(re.compile("fields to fix before sending"))
    for field, value in (("user_id", "1"), ("project_id", "2"), ("cluster_id", "4")):
        page.locator(f"#f-scope-{field}").fill(value)
    page.locator("#f-prop-cluster_type").select_option("eks")
    page.locator("#f-prop-infra_id").fill("9")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(status).to_have_text("delivered HTTP 200")


def test_a_tester_notice_is_said_by_the_status_region_the_redraw_keeps(
    live_server: str, page: Page, app: Flask
) -> None:
    """ "Saved the preset …" and "That preset no longer exists." came in a role=status element inserted
    with the redrawn form, which screen readers do not reliably read out."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#tester-form")
    status = page.locator("#tester-status")
    status.evaluate("element => { element.dataset.kept = 'yes'; }")
    page.locator("#f-scope-user_id").fill("5")
    page.locator("#f-scope-project_id").fill("12")
    page.get_by_text("Save these ids as a preset").click()
    page.locator("#f-preset_name").fill("user five")
    page.get_by_role("button", name="Save preset").click()
    expect(status).to_have_text("Saved the preset 'user five'.")
    expect(status).to_have_attribute("data-kept", "yes")
    expect(page.locator("#tester-notice")).to_have_text("Saved the preset 'user five'.")
    # The event search's count line is inserted empty and filled as the engineer types, which is read.
    assert page.locator("#tester [role=status]:not(.htmx-indicator):not(:empty)").count() == 0
    with app.app_context():
        db.session.execute(delete(ScopePreset))
        db.session.commit()
    page.get_by_role("link", name="user five").click()
    expect(status).to_have_text("That preset no longer exists.")
    page.get_by_role("button", name="Fill with example").click()
    expect(status).to_have_text("")


def test_a_preview_warning_is_said_once_by_the_status_region_the_redraw_keeps(
    live_server: str, page: Page
) -> None:
    """The off-schema warning was a role=status element inserted anew by each redraw of the preview while
    the engineer typed: read out at every keystroke's redraw, or by some screen readers not at all."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#f-scope-user_id").fill("5")
    page.locator("#f-scope-project_id").fill("12")
    page.locator("#mode-raw").click()
    status = page.locator("#tester-status")
    status.evaluate("element => { element.dataset.kept = 'yes'; }")
    page.locator("#f-raw").fill('{"surprise": 1}')
    expect(page.locator("#preview .warning")).to_contain_text("Off-schema")
    expect(status).to_have_text("Off-schema: 1 property the spec does not validate.")
    expect(status).to_have_attribute("data-kept", "yes")
    assert page.locator("#preview [role=status], #preview [role=alert]").count() == 0
    status.evaluate("element => { element.textContent = ''; }")
    page.locator("#f-raw").fill('{"surprise": 2}')
    expect(page.locator("#preview-json")).to_contain_text('"surprise": 2')
    expect(status).to_have_text("")
    page.locator("#f-raw").fill('{"surprise": 2, "another": 3}')
    expect(status).to_have_text("Off-schema: 2 properties the spec does not validate.")


def test_audit_and_health_searches_announce_what_they_found(
    live_server: str, page: Page, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    for status in (AuditStatus.DELIVERED, AuditStatus.FAILED, AuditStatus.DELIVERED):
        record_delivery(store, status)
    store.engine.dispose()
    page.goto(live_server + "/audit/")
    wait_until_htmx_has(page, "#audit-filters")
    said = page.locator("#audit-status")
    page.get_by_role("checkbox", name="failed").check()
    expect(said).to_have_text("1 entry matches.")
    page.get_by_role("checkbox", name="delivered").check()
    expect(said).to_have_text("3 entries match.")
    page.get_by_label("Project").fill("twelve")
    expect(said).to_have_text("Some filters cannot be used; each says why next to it.")
    assert _live_text(page) == ["Some filters cannot be used; each says why next to it."]
    assert page.locator("#audit-results [role=status], #audit-results [role=alert]").count() == 0

    page.goto(live_server + "/health")
    wait_until_htmx_has(page, "form.filters")
    page.get_by_label("Window").fill("7d")
    said = page.locator("#destinations-status")
    expect(said).to_have_text(re.compile(r"^Since [\d-]+ [\d:]+ UTC: 1 destination\.$"))
    page.get_by_label("Window").fill("soon")
    expect(said).to_have_text(re.compile(r"^Window: 'soon' is not a duration.* UTC: 1 destination\.$"))
    assert _live_text(page) == [said.text_content()]


def test_the_live_tail_announces_only_new_entries_and_keeps_the_focus_where_it_was(
    live_server: str, page: Page, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    record_delivery(store, AuditStatus.DELIVERED)
    waiting = record_delivery(store, AuditStatus.PENDING)
    page.goto(live_server + "/audit/?live=1")
    for _ in range(2):
        with page.expect_response(lambda response: "/audit/tail" in response.url):
            pass
    assert _live_text(page) == []  # each poll's "checked at" is no announcement

    bar = page.locator(".histogram svg a:not([tabindex])").last
    bar.focus()
    bar_id = bar.get_attribute("id")
    assert bar_id
    record_delivery(store, AuditStatus.DELIVERED)
    expect(page.locator("#audit-status")).to_have_text("1 new entry.")
    expect(page.locator("#audit-count")).to_have_text("3 entries")
    assert page.evaluate("document.activeElement.id") == bar_id

    link = page.locator(f'#audit-rows a[href$="{waiting}"]')
    link.focus()
    link_id = link.get_attribute("id")
    assert link_id
    store.record_outcome([waiting], AuditStatus.DELIVERED, http_status=200)
    expect(page.locator(f'#audit-rows tr:has(a[href$="{waiting}"]) .audit-status')).to_have_text("delivered")
    assert page.evaluate("document.activeElement.id") == link_id
    store.engine.dispose()
