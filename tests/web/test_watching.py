"""Watch list and notification settings in the browser's terms: forms, errors, nothing stored."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cerflow.auth.models import Role
from cerflow.webhooks import service as webhooks
from tests.api.conftest import Actors
from tests.web.conftest import sign_in


def _hooks(factory: sessionmaker[Session], user_id: int) -> list[str]:
    with factory() as s:
        return [h.url for h in webhooks.list_for_user(session=s, user_id=user_id)]


def test_watch_and_stop_watching(web: TestClient, actors: Actors) -> None:
    token = sign_in(web, actors[Role.ANALYST])
    r = web.post("/products/DQA/watch", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    page = web.get("/watching").text
    assert 'href="/products/DQA"' in page
    item_id = re.search(r'action="/watching/(\d+)/unwatch"', page)
    assert item_id, page
    r = web.post(
        f"/watching/{item_id.group(1)}/unwatch", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "You watch no product yet" in web.get("/watching").text


def test_webhook_refused_target_is_explained_and_not_stored(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    me = actors[Role.ANALYST]
    token = sign_in(web, me)
    r = web.post("/watching/webhooks", data={"csrf_token": token, "url": "http://127.0.0.1:6379/"})
    assert r.status_code == 422
    assert 'id="hook-url-error"' in r.text and 'aria-invalid="true"' in r.text
    assert "Nothing was saved" in r.text
    assert _hooks(session_factory, me.id) == []
    r = web.post("/watching/webhooks", data={"csrf_token": token, "url": "  "})
    assert r.status_code == 422 and "Give the address" in r.text


def test_webhook_secret_shown_once_then_deleted(
    web: TestClient, actors: Actors, session_factory: sessionmaker[Session]
) -> None:
    me = actors[Role.ANALYST]
    token = sign_in(web, me)
    r = web.post(
        "/watching/webhooks", data={"csrf_token": token, "url": "https://example.org/hook"}
    )
    assert r.status_code == 201
    secret = re.search(r'id="new-secret">([^<]+)<', r.text)
    assert secret and secret.group(1).startswith("whsec_")
    assert _hooks(session_factory, me.id) == ["https://example.org/hook"]
    again = web.get("/watching").text
    assert secret.group(1) not in again and "https://example.org/hook" in again
    hook_id = re.search(r'action="/watching/webhooks/(\d+)/delete"', again)
    assert hook_id
    # Another user cannot delete it: same 404 as a missing hook.
    other = TestClient(web.app)
    other_token = sign_in(other, actors[Role.ADMIN])
    r = other.post(
        f"/watching/webhooks/{hook_id.group(1)}/delete",
        data={"csrf_token": other_token},
        follow_redirects=False,
    )
    assert r.status_code == 404
    r = web.post(
        f"/watching/webhooks/{hook_id.group(1)}/delete",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and _hooks(session_factory, me.id) == []


def test_email_state_is_stated(web: TestClient, actors: Actors) -> None:
    sign_in(web, actors[Role.VIEWER])
    page = web.get("/watching").text
    assert "This server sends no e-mail" in page
    assert 'action="/watching/webhooks"' not in page  # viewers see no forms
