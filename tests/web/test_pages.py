"""The web pages through HTTP: sign-in, sessions, CSRF, every page, forms and their errors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth import service as auth_service
from cerflow.auth.models import Role
from cerflow.jobs.interface import RecordingSubmitter
from cerflow.unit_of_work import unit_of_work
from cerflow.web import session as web_session
from tests.api.conftest import Actors
from tests.api.seed import seed_products
from tests.web.conftest import csrf_of, sign_in


def test_pages_need_a_session_and_send_to_sign_in(web: TestClient) -> None:
    for path in ("/", "/search?q=DQA", "/products/DQA", "/reports", "/alerts", "/admin"):
        r = web.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=/"), path
    # htmx fragments get HX-Redirect instead of a sign-in page inside the fragment.
    r = web.get("/search/suggest?q=DQ", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 204
    assert r.headers["hx-redirect"].startswith("/login?next=")


def test_sign_in_sets_a_hardened_cookie_and_honours_next(web: TestClient, actors: Actors) -> None:
    form = web.get("/login?next=/alerts")
    assert 'name="next" value="/alerts"' in form.text
    r = web.post(
        "/login",
        data={
            "email": actors[Role.VIEWER].email,
            "password": "correct horse battery staple",
            "csrf_token": csrf_of(form.text),
            "next": "/alerts",
        },
        headers={"x-forwarded-proto": "https"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/alerts"
    cookie = next(
        c for c in r.headers.get_list("set-cookie") if c.startswith(web_session.SESSION_COOKIE)
    )
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "samesite"} <= attrs
    assert "samesite=lax" in cookie.lower()


def test_sign_in_errors_and_open_redirects(web: TestClient, actors: Actors) -> None:
    form = web.get("/login")
    token = csrf_of(form.text)
    bad = web.post(
        "/login",
        data={"email": actors[Role.VIEWER].email, "password": "wrong", "csrf_token": token},
        follow_redirects=False,
    )
    assert bad.status_code == 401
    assert "Incorrect e-mail address or password." in bad.text
    assert web_session.SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    # A post without the login form's token (a cross-site form) is refused.
    forged = web.post(
        "/login",
        data={
            "email": actors[Role.VIEWER].email,
            "password": "correct horse battery staple",
            "csrf_token": "not-the-token",
        },
        follow_redirects=False,
    )
    assert forged.status_code == 403
    # `next` may only be a path of this site.
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        web.cookies.clear()
        token = csrf_of(web.get("/login").text)
        ok = web.post(
            "/login",
            data={
                "email": actors[Role.VIEWER].email,
                "password": "correct horse battery staple",
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/", target


def test_a_forged_or_revoked_session_is_signed_out(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    web.cookies.set(web_session.SESSION_COOKIE, "forged.value.here")
    assert web.get("/", follow_redirects=False).status_code == 303
    web.cookies.clear()
    sign_in(web, actors[Role.ANALYST])
    assert web.get("/reports").status_code == 200
    # An admin demotes the analyst: the token version changes and the cookie is void.
    with unit_of_work(session_factory) as session:
        user = auth_service.get_user(session=session, user_id=actors[Role.ANALYST].id)
        auth_service.update_user(session=session, user=user, role=Role.VIEWER)
    r = web.get("/reports", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_pages_render_the_store_for_a_viewer(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    seed_products(session_factory)
    sign_in(web, actors[Role.VIEWER])
    home = web.get("/")
    assert home.status_code == 200
    assert "Find a product" in home.text
    found = web.get("/search?q=DQA")
    assert found.status_code == 200
    assert 'href="/products/DQA"' in found.text
    suggest = web.get("/search/suggest?q=dqa")
    assert 'href="/products/DQA"' in suggest.text
    page = web.get("/products/DQA")
    assert page.status_code == 200
    text = page.text
    # The figures of the seed: 4 DQA reports, 2 serious, 1 death; hypoxia on 3 of them.
    assert '<span class="value">4</span><span class="label">reports</span>' in text
    assert '<span class="value">2</span><span class="label">serious</span>' in text
    assert '<span class="value">1</span><span class="label">deaths</span>' in text
    assert '<td>hypoxia</td><td class="num">3</td>' in text
    assert 'role="img"' in text and '<desc id="chart-desc">' in text
    # A viewer sees no action that needs the analyst role.
    assert "Refresh data" not in text and "Start a report" not in text
    missing = web.get("/products/ZZZ")
    assert missing.status_code == 404
    assert "not in the store yet" in missing.text
    assert web.get("/admin").status_code == 403


def test_posts_without_the_csrf_token_change_nothing(
    web: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    sign_in(web, actors[Role.ANALYST])
    r = web.post("/reports", data={"product_ref": "DQA", "formats": ["pdf"]})
    assert r.status_code == 403
    assert "did not come from this site" in r.text
    r = web.post("/products/DQA/refresh", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    assert submitter.submitted == []


def test_start_a_report_and_field_errors(
    web: TestClient, actors: Actors, submitter: RecordingSubmitter
) -> None:
    token = sign_in(web, actors[Role.ANALYST])
    bad = web.post(
        "/reports",
        data={
            "csrf_token": token,
            "product_ref": "DQA",
            "since": "2024-05-01",
            "until": "2023-01-01",
            "formats": ["pdf"],
        },
    )
    assert bad.status_code == 422
    assert 'id="until-error"' in bad.text and "swap them" in bad.text
    assert 'value="DQA"' in bad.text  # what was typed is kept
    bad_ref = web.post(
        "/reports",
        data={"csrf_token": token, "product_ref": "   ", "since": "<script>alert(1)</script>"},
    )
    assert bad_ref.status_code == 422
    assert 'id="product_ref-error"' in bad_ref.text
    assert 'id="since-error"' in bad_ref.text
    assert "<script>alert(1)" not in bad_ref.text  # escaped, never echoed raw
    assert "&lt;script&gt;alert(1)" in bad_ref.text
    assert submitter.submitted == []
    ok = web.post(
        "/reports",
        data={
            "csrf_token": token,
            "product_ref": "dqa",
            "since": "2023-01-01",
            "until": "2023-12-31",
            "formats": ["pdf", "docx"],
            "polish": "on",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    (job,) = submitter.submitted
    assert ok.headers["location"] == f"/jobs/{job.job_id}"
    assert job.kind == "report"
    assert job.payload == {
        "product_kind": "device",
        "product_ref": "DQA",
        "since": "2023-01-01",
        "until": "2023-12-31",
        "formats": ["pdf", "docx"],
        "polish": True,
        "udi_di": [],
        "srn": [],
        "background": None,
    }
    assert job.requested_by == actors[Role.ANALYST].id


def test_admin_creates_a_key_shown_once(web: TestClient, actors: Actors) -> None:
    token = sign_in(web, actors[Role.ADMIN])
    empty = web.post("/admin/api-keys", data={"csrf_token": token, "name": ""})
    assert empty.status_code == 422
    assert 'id="key-name-error"' in empty.text
    r = web.post("/admin/api-keys", data={"csrf_token": token, "name": "export", "role": "viewer"})
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    key = r.text.split('id="new-key">', 1)[1].split("<", 1)[0]
    assert key.startswith("cfk_") or len(key) > 20
    again = web.get("/admin")
    assert key not in again.text  # shown once
    # The last admin cannot demote themself.
    me = actors[Role.ADMIN].id
    demote = web.post(
        f"/admin/users/{me}", data={"csrf_token": token, "role": "viewer", "active": "on"}
    )
    assert demote.status_code == 409
    assert f'id="role-{me}-error"' in demote.text


def test_security_headers_static_cache_and_offline_docs(web: TestClient) -> None:
    login = web.get("/login")
    csp = login.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "form-action 'self'" in csp
    assert login.headers["x-frame-options"] == "DENY"
    assert login.headers["cache-control"] == "no-store"
    css_url = login.text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    css = web.get(css_url)
    assert css.status_code == 200
    assert "immutable" in css.headers["cache-control"]
    docs = web.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    bundle = web.get(docs.text.split('src="', 1)[1].split('"', 1)[0])
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000
    # The API keeps JSON errors; pages get pages.
    assert web.get("/api/v1/products/DQA").headers["content-type"].startswith("application/")
    nothing = web.get("/no/such/page")
    assert nothing.status_code == 404 and "There is no page at this address." in nothing.text


def test_product_page_shows_the_latest_reports_signal_table(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    from cerflow.versions.models import ReportVersion

    seed_products(session_factory)
    analyst = actors[Role.ANALYST]
    facts = {
        "signals": {
            "background": {"description": "the local store (N = 1,234 device reports)"},
            "sdr": {
                "primary_criterion": "EB05",
                "closed": [{"event": "Fever", "a": 2, "flags": ["evans"], "status": "closed"}],
            },
            "signals": [
                {
                    "event": "Hypoxia",
                    "a": 3,
                    "eb05": 2.5,
                    "flags": ["evans", "ebgm"],
                    "labelled": "no label",
                    "status": "new",
                    "first_detected": "2024-06-30",
                    "review": "refuted",
                }
            ],
        }
    }
    with session_factory() as s:
        s.add(
            ReportVersion(
                product_kind="device",
                product_ref="DQA",
                number=1,
                report_id="r-1",
                title="t",
                facts_sha256="0" * 64,
                facts=facts,
                generated_by=analyst.email,
                generated_by_id=analyst.id,
            )
        )
        s.commit()
    sign_in(web, analyst)
    text = web.get("/products/DQA").text
    assert 'From <a href="/products/DQA/versions">version 1</a>' in text
    assert "ranked by EB05" in text and "the local store (N = 1,234 device reports)" in text
    row = text.split("<td>Hypoxia</td>", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">3</td><td class="num">2.50</td>' in row
    assert "<td>PRR (Evans), EB05</td><td>no label</td><td>new" in row
    assert "since 2024-06-30" in row and "refuted" in row
    assert "<td>Fever</td>" in text and "<td>closed" in text  # closed SDRs stay listed
    for select in ("sdr-method", "sdr-labelled", "sdr-status"):
        assert f'id="{select}" data-filter-table="sdr-table"' in text
