"""The one list of routers the app serves; `create_app()` includes them in this order.

Each domain owns its endpoints (`<domain>/endpoints.py`); `api/` keeps only what every
domain shares (dependencies, errors, middleware) plus health and the WebSocket.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cerflow.alerts import endpoints as alerts
from cerflow.api import health, ws
from cerflow.auth import endpoints as auth
from cerflow.cer_inputs import endpoints as cer_inputs
from cerflow.feedback import endpoints as feedback
from cerflow.jobs import endpoints as jobs
from cerflow.literature import endpoints as literature
from cerflow.products import endpoints as products
from cerflow.reports import endpoints as reports
from cerflow.signal_reviews import endpoints as signal_reviews
from cerflow.versions import endpoints as versions
from cerflow.webhooks import endpoints as webhooks

# The order is the order of the OpenAPI document's paths: keep it stable.
ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    auth.admin_router,
    products.router,
    products.watched_router,
    signal_reviews.router,
    feedback.router,
    health.router,
    jobs.router,
    jobs.alias_router,
    reports.router,
    webhooks.router,
    alerts.router,
    ws.router,
    cer_inputs.router,
    versions.router,
    versions.audit_router,
    literature.router,
)


def include_routers(app: FastAPI) -> None:
    """Routers carry their full prefix, so route templates in logs and metrics are real paths."""
    for router in ROUTERS:
        app.include_router(router)
