"""The literature workspace in a real browser (Debian's Chromium driven by Playwright):
an analyst confirms an LLM suggestion and excludes a record with a reason, as a reviewer
would; the page passes axe-core's WCAG 2.1 A/AA rules at desktop and phone widths.

The app runs in this process (uvicorn on a free port) on a PostgreSQL database of its own;
the LLM is the replay server. Set CERFLOW_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cerflow.app import create_app
from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.config import Environment, Settings
from cerflow.db import make_engine
from cerflow.literature import screening
from cerflow.literature.models import LiteratureScreeningDecision
from tests.conftest import REDIS_TEST_URL, PgDatabases
from tests.literature.builders import make_search, rec, record_ids
from tests.replay.llm_server import ReplayLLM
from tests.web.test_browser import AXE, CHROMIUM

playwright_api = pytest.importorskip("playwright.sync_api")
PASSWORD = "a browser test passphrase"
EMAIL = "lit-analyst@example.org"


@dataclass
class Served:
    base: str
    engine: Engine
    search_id: int
    ids: dict[str, int]


@pytest.fixture(scope="module")
def served(pg_databases: PgDatabases) -> Iterator[Served]:
    url = pg_databases.create("litweb")
    engine = make_engine(url)
    llm = ReplayLLM()
    llm.rewrite = lambda text: json.dumps(
        {"decision": "exclude", "reason_code": "E2", "rationale": "A study in mice."}
        if "mice" in text
        else {"decision": "include", "rationale": "Adults on atorvastatin."}
    )
    settings = Settings(
        environment=Environment.TESTING,
        database_url=url,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=f"cerflow-test:litweb-{os.getpid()}:",
        secret_key=SecretStr("literature-browser-secret-" + "s" * 40),
        llm_base_url=llm.url,
        llm_model="replay-model",
        literature_llm_suggestions=True,
    )
    with Session(engine) as s:
        auth_service.create_user(session=s, email=EMAIL, password=PASSWORD, role=Role.ANALYST)
        search = make_search(
            s,
            pubmed=[
                rec("pubmed", 1, "Atorvastatin and myopathy in adults", pmid="1001"),
                rec("pubmed", 2, "Statin effects on skeletal muscle in mice", pmid="1002"),
                rec("pubmed", 3, "Rosuvastatin versus placebo in the elderly", pmid="1003"),
            ],
        )
        s.commit()
        sid, ids = search.id, record_ids(s, search.id)
        screening.suggest(session=s, search_id=sid, settings=settings, user_id=None)
        s.commit()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", engine, sid, ids)
    finally:
        server.should_exit = True
        thread.join(10)
        llm.close()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _axe(page: Any) -> list[str]:
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


def _decisions(engine: Engine) -> list[tuple[int, str, str | None, bool, str]]:
    with Session(engine) as s:
        rows = s.scalars(
            select(LiteratureScreeningDecision).order_by(LiteratureScreeningDecision.id)
        )
        return [
            (r.record_id, r.decision, r.reason_code, r.llm_suggested, r.decided_by_email)
            for r in rows
        ]


def test_screening_in_the_browser(served: Served, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto(f"{served.base}/login?next=/products/atorvastatin/literature")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/products/atorvastatin/literature$", re.I))
    assert page.locator("article.record").count() == 4  # 3 PubMed + 1 Europe PMC unique
    mice = page.locator(f"#rec-{served.ids['pubmed:2']}")
    assert "exclude E2: A study in mice." in mice.inner_text()
    assert _axe(page) == []
    _shot(page, "literature-desktop")
    mice.get_by_role("button", name="Confirm: exclude E2").click()
    page.wait_for_load_state()
    # the elderly rosuvastatin trial: pick a reason and exclude
    other = page.locator(f"#rec-{served.ids['pubmed:3']}")
    other.get_by_label("Exclusion reason").select_option("E1")
    other.get_by_label("Note").fill("rosuvastatin, not the product")
    other.get_by_role("button", name="Exclude").click()
    page.wait_for_load_state()
    assert page.locator("article.record").count() == 2  # only the queue is shown
    assert _decisions(served.engine) == [
        (served.ids["pubmed:2"], "exclude", "E2", True, EMAIL),
        (served.ids["pubmed:3"], "exclude", "E1", False, EMAIL),
    ]
    stats = page.get_by_label("Screening progress").inner_text()
    assert "2\nexcluded (title/abstract)" in stats
    phone = browser.new_context(viewport={"width": 390, "height": 800}, bypass_csp=True)
    phone.add_cookies(ctx.cookies())
    p2 = phone.new_page()
    p2.goto(f"{served.base}/products/atorvastatin/literature?view=all")
    assert p2.locator("article.record").count() == 4
    assert _axe(p2) == []
    _shot(p2, "literature-phone")
    phone.close()
    ctx.close()
