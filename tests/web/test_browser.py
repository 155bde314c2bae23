"""The pages in a real browser (Debian's Chromium driven by Playwright) against the real
service: an API process and a Celery worker on a store with a planted signal.

Each page is checked with axe-core (WCAG 2.1 A/AA rules: labels, contrast, landmarks, ARIA)
at desktop (1280 px) and phone (390 px) widths, and the whole job is done as a writer
would: sign in, find the product, start a report, watch it progress, open and download it.
Set CERFLOW_SCREENSHOT_DIR to keep the screenshots (docs/images holds a set).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.db import make_engine
from tests.conftest import PgDatabases
from tests.system.stack import Stack
from tests.system.store_seed import SIGNAL_CODE, SIGNAL_TERM, seed

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "a browser test passphrase"
USERS = {
    "analyst": Role.ANALYST,
    "admin": Role.ADMIN,
    "viewer": Role.VIEWER,
    "approver": Role.APPROVER,
}

playwright_api = pytest.importorskip("playwright.sync_api")

if not CHROMIUM.exists():
    # `make test` installs it (scripts/ensure_sysdeps.sh); CI must never skip these.
    if os.environ.get("CERFLOW_REQUIRE_SHARED_DATA") == "1":
        raise RuntimeError(
            "Debian's chromium is missing at /usr/bin/chromium: apt-get install chromium"
        )
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


def _email(name: str) -> str:
    return f"{name}@web-test.example.org"


@pytest.fixture(scope="module")
def stack(pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = pg_databases.create("web")
    engine = make_engine(url)
    seed(engine, prefix="web")
    with Session(engine) as session:
        for name, role in USERS.items():
            auth_service.create_user(
                session=session, email=_email(name), password=PASSWORD, role=role
            )
        session.commit()
    engine.dispose()
    s = Stack(
        tmp_path_factory.mktemp("web-stack"),
        url,
        apis=1,
        workers=1,
        # The seed is small (340 reports, PSG 40): let it have signals of disproportionate
        # reporting, so the signal table (and a review decision in it) can be checked.
        extra_env={
            "CERFLOW_BACKGROUND_MIN_REPORTS": "100",
            "CERFLOW_SIGNAL_MIN_PRODUCT_REPORTS": "20",
        },
    )
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def _context(browser: Any, width: int = 1280) -> Any:
    # bypass_csp: only so the test can inject axe-core; the pages' own CSP is checked in
    # test_pages.py and no page script needs it relaxed.
    ctx = browser.new_context(
        viewport={"width": width, "height": 900}, bypass_csp=True, accept_downloads=True
    )
    ctx.set_default_timeout(15_000)
    return ctx


def _axe(page: Any) -> list[str]:
    """WCAG 2.1 A/AA violations on the page, as 'rule: target' lines."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
          return {passes: r.passes.length, violations: r.violations.map(
            v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))};
        }"""
    )
    assert result["passes"] > 10, "axe-core did not run its rules"
    return list(result["violations"])


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("CERFLOW_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _sign_in(page: Any, base: str, who: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail address").fill(_email(who))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_sign_in_errors_and_accessibility(stack: Stack, browser: Any) -> None:
    base = stack.base_urls[0]
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(f"{base}/reports")
    assert page.url.startswith(f"{base}/login?next=/reports")
    assert _axe(page) == []
    _shot(page, "web-sign-in")
    page.get_by_label("E-mail address").fill(_email("analyst"))
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Incorrect e-mail address or password."
    assert page.get_by_label("E-mail address").get_attribute("aria-invalid") == "true"
    assert _axe(page) == []
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/reports")  # back where the user wanted to go
    cookies = {c["name"]: c for c in ctx.cookies()}
    assert cookies["cerflow_session"]["httpOnly"] is True
    assert cookies["cerflow_session"]["sameSite"] == "Lax"
    # The page script cannot read the session.
    assert "cerflow_session" not in page.evaluate("document.cookie")
    ctx.close()


def test_the_writers_whole_job(stack: Stack, browser: Any) -> None:
    """Search -> product -> start a report -> live progress -> open and download it."""
    base = stack.base_urls[0]
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "analyst")
    assert _axe(page) == []
    _shot(page, "web-home")
    search = page.get_by_label("Drug name or ingredient, device product code or UDI-DI")
    search.fill(SIGNAL_CODE.lower())
    suggestion = page.locator("#suggestions a", has_text=SIGNAL_CODE)
    suggestion.wait_for()
    suggestion.click()
    page.wait_for_url(f"{base}/products/{SIGNAL_CODE}")
    assert page.get_by_role("heading", level=1).inner_text() == SIGNAL_CODE
    # store_seed: PSG has 40 reports, "thermal burn" in 30 of them.
    stats = page.locator(".stat .value").all_inner_texts()
    assert stats[0] == "40"
    events = page.locator("#events-h + .table-wrap tbody tr").all_inner_texts()
    assert events[0].split("\t") == ["thermal burn", "30"]
    assert page.locator("svg.chart").get_attribute("role") == "img"
    assert _axe(page) == []
    _shot(page, "web-product")
    # Sorting by keyboard: focus the "Reports" header of the screening table, press Enter.
    header = page.locator("#signals-table thead th", has_text="Reports")
    header.focus()
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "ascending"

    page.get_by_role("link", name="Start a report").click()
    page.wait_for_url(f"{base}/reports?product={SIGNAL_CODE}")
    assert (
        page.get_by_label("Product (drug name or device product code)").input_value() == SIGNAL_CODE
    )
    # A wrong period: the message sits next to the field and no job starts.
    page.get_by_label("From").fill("2024-06-01")
    page.get_by_label("To").fill("2023-01-01")
    page.get_by_role("button", name="Start the report").click()
    assert "swap them" in page.locator("#until-error").inner_text()
    assert page.get_by_label("To").get_attribute("aria-invalid") == "true"
    assert _axe(page) == []
    _shot(page, "web-report-form-error")
    page.get_by_label("From").fill("")
    page.get_by_label("To").fill("")
    page.get_by_label("HTML").check()
    page.get_by_label("PDF").check()
    page.get_by_role("button", name="Start the report").click()
    page.wait_for_url(lambda url: "/jobs/" in url)
    seen_states = set()
    link = page.get_by_role("link", name="Open the report")
    for _ in range(240):
        seen_states.add(page.locator("#job-status .state").inner_text())
        if link.count():
            # The link and the final state arrive in one swap: read the state once more.
            seen_states.add(page.locator("#job-status .state").inner_text())
            break
        page.wait_for_timeout(500)
    assert link.count() == 1, f"the report did not finish; states seen: {seen_states}"
    assert "succeeded" in seen_states
    _shot(page, "web-job-done")
    link.click()
    page.wait_for_url(lambda url: "/reports/" in url)
    frame = page.frame_locator("iframe.report-frame")
    assert "1 Executive summary" in frame.locator("h1").first.inner_text()
    assert f"FDA product code {SIGNAL_CODE}" in frame.locator("body").inner_text()
    assert _axe(page) == []
    _shot(page, "web-report")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    ctx.close()


# The outermost elements reaching past the right edge, to name the culprit in a failure.
_WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 390 && !e.parentElement.closest('.table-wrap'))
  .slice(0, 8)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}#${e.id}:`
            + Math.round(e.getBoundingClientRect().right))
"""


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/products/PSG",
        "/reports",
        "/alerts",
        "/watching",
        "/admin",
        "/products/PSG/inputs",
        "/products/PSG/versions",
        "/admin/audit",
    ],
)
def test_pages_at_phone_width(stack: Stack, browser: Any, path: str) -> None:
    base = stack.base_urls[0]
    ctx = _context(browser, width=390)
    page = ctx.new_page()
    _sign_in(page, base, "admin")
    page.goto(f"{base}{path}")
    assert _axe(page) == []
    # Nothing wider than the screen except inside a scrolling table wrapper.
    overflow = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(_WIDER_THAN_SCREEN)
    assert overflow <= 390, f"{path} is {overflow} px wide at 390 px: {wide}"
    name = path.strip("/").replace("/", "-") or "home"
    _shot(page, f"web-phone-{name}")
    ctx.close()


def test_admin_key_is_shown_once(stack: Stack, browser: Any) -> None:
    base = stack.base_urls[0]
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "admin")
    page.goto(f"{base}/admin")
    page.get_by_label("What it is for").fill("nightly export")
    page.get_by_role("button", name="Create the key").click()
    key = page.locator("#new-key").inner_text()
    assert len(key) > 20
    assert _axe(page) == []
    _shot(page, "web-admin")
    page.goto(f"{base}/admin")
    assert key not in page.content()
    assert "nightly export" in page.content()
    ctx.close()


def test_keyboard_reaches_main_content_first(stack: Stack, browser: Any) -> None:
    base = stack.base_urls[0]
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "viewer")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    ctx.close()


def test_webhook_form_explains_a_refused_address(stack: Stack, browser: Any) -> None:
    base = stack.base_urls[0]
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "admin")
    page.goto(f"{base}/alerts")
    page.get_by_role("link", name="Watch list and notifications").click()
    page.get_by_label("Address that receives the alerts").fill("http://169.254.169.254/latest")
    page.get_by_role("button", name="Add the webhook").click()
    error = page.locator("#hook-url-error").inner_text()
    assert "169.254.169.254" in error or "refused" in error.lower() or "private" in error.lower()
    assert page.get_by_label("Address that receives the alerts").get_attribute("aria-invalid")
    assert _axe(page) == []
    _shot(page, "web-watching")
    ctx.close()


def _wait_for_report(page: Any) -> None:
    link = page.get_by_role("link", name="Open the report")
    for _ in range(240):
        if link.count():
            return
        page.wait_for_timeout(500)
    raise AssertionError("the report did not finish in 120 s")


def test_inputs_in_the_next_version_approval_and_viewer(stack: Stack, browser: Any) -> None:
    """Fill a CER input (an error first, beside its field), regenerate the report and read
    the input in it; approve the version as an approver; a viewer sees no start or approve
    control and the server refuses both when forced (403)."""
    base = stack.base_urls[0]
    purpose = "Browser-test purpose: heating pads for muscle pain in adults at home."
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "analyst")
    page.goto(f"{base}/products/{SIGNAL_CODE}")
    page.get_by_role("link", name="CER inputs").first.click()
    page.wait_for_url(f"{base}/products/{SIGNAL_CODE}/inputs")
    page.get_by_label("Intended purpose").fill(purpose)
    page.locator("#f-evaluators-0-name").fill("Dr A. Example")
    page.get_by_role("button", name="Save the inputs").click()
    error = page.locator("#f-evaluators-0-qualification-error")
    assert error.inner_text() == "required"
    assert page.locator("#f-evaluators-0-qualification").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Intended purpose").input_value() == purpose  # kept
    assert _axe(page) == []
    _shot(page, "web-inputs-error")
    page.locator("#f-evaluators-0-name").fill("")
    page.get_by_role("button", name="Save the inputs").click()
    page.wait_for_url(f"{base}/products/{SIGNAL_CODE}/inputs?saved=1")
    assert page.get_by_role("status").inner_text().startswith("The inputs were saved")
    assert _axe(page) == []
    _shot(page, "web-inputs")

    # The safety physician refutes the planted signal; the next version shows it.
    page.goto(f"{base}/products/{SIGNAL_CODE}/review?event={SIGNAL_TERM}")
    page.get_by_label("Refuted").check()
    page.get_by_label("Reason (case review, labelling, literature)").fill(
        "Browser test: burns from misuse against the instructions in every case"
    )
    page.get_by_role("button", name="Save the decision").click()
    page.wait_for_url(lambda url: url.startswith(f"{base}/products/{SIGNAL_CODE}"))

    page.goto(f"{base}/reports?product={SIGNAL_CODE}")
    page.get_by_label("HTML").check()
    page.get_by_label("Disproportionality background").select_option("store")
    page.get_by_role("button", name="Start the report").click()
    page.wait_for_url(lambda url: "/jobs/" in url)
    _wait_for_report(page)
    page.get_by_role("link", name="Open the report").click()
    page.wait_for_url(lambda url: "/reports/" in url)
    frame = page.frame_locator("iframe.report-frame")
    body = frame.locator("body").inner_text()
    assert purpose in body
    assert (
        "refuted (analyst@web-test.example.org, "  # the signal table's Evaluation column
        in body
    ), "the review decision is not in the new version's signal table"
    assert "burns from misuse against the instructions in every case" in body
    ctx.close()

    # The approver reads the version and approves it with the facts hash shown.
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "approver")
    page.goto(f"{base}/products/{SIGNAL_CODE}/versions")
    newest = page.locator("article.version").first
    sha = newest.locator("code.hash").inner_text()
    assert len(sha) == 64
    assert _axe(page) == []
    _shot(page, "web-versions")
    newest.get_by_label("Facts hash of the version you reviewed").fill("0" * 64)
    newest.get_by_role("button", name=re.compile("^Approve version")).click()
    newest = page.locator("article.version").first
    assert "facts hash mismatch" in newest.locator(".field-error").inner_text()
    newest.get_by_label("Facts hash of the version you reviewed").fill(sha)
    newest.get_by_label("Note (optional)").fill("read in full in the browser test")
    newest.get_by_role("button", name=re.compile("^Approve version")).click()
    page.wait_for_url(lambda url: "/versions" in url)
    newest = page.locator("article.version").first
    assert newest.locator(".state").inner_text() == "approved"
    assert "approver@web-test.example.org" in newest.inner_text()
    compare = page.get_by_role("link", name=re.compile("^Compare with the previous version"))
    if compare.count():  # when the writer's test (same stack) made an earlier version
        compare.first.click()
        assert page.locator("#diff-h").inner_text().startswith("Changes from version")
        assert _axe(page) == []
        _shot(page, "web-versions-compare")
    ctx.close()

    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "admin")
    page.goto(f"{base}/admin/audit?product={SIGNAL_CODE}&action=approved")
    assert "approver@web-test.example.org" in page.locator("tbody").inner_text()
    assert _axe(page) == []
    _shot(page, "web-audit")
    ctx.close()

    # A viewer: no start/approve controls, and the server refuses them when forced.
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, base, "viewer")
    page.goto(f"{base}/products/{SIGNAL_CODE}")
    assert page.get_by_role("link", name="Start a report").count() == 0
    page.goto(f"{base}/products/{SIGNAL_CODE}/inputs")
    assert page.get_by_role("button", name="Save the inputs").count() == 0
    assert page.get_by_label("Intended purpose").is_disabled()
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    page.goto(f"{base}/products/{SIGNAL_CODE}/versions")
    assert page.get_by_role("button", name=re.compile("^Approve")).count() == 0
    forced = page.request.post(
        f"{base}/reports",
        form={"csrf_token": token, "product_ref": SIGNAL_CODE, "formats": "pdf"},
        max_redirects=0,
    )
    assert forced.status == 403
    forced = page.request.post(
        f"{base}/versions/1/approve",
        form={"csrf_token": token, "facts_sha256": "0" * 64},
        max_redirects=0,
    )
    assert forced.status == 403
    forced = page.request.post(
        f"{base}/products/{SIGNAL_CODE}/inputs",
        form={"csrf_token": token, "intended_purpose": "changed by a viewer"},
        max_redirects=0,
    )
    assert forced.status == 403
    page.goto(f"{base}/products/{SIGNAL_CODE}/inputs")
    assert page.get_by_label("Intended purpose").input_value() == purpose
    ctx.close()
