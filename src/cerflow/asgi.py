"""The application factory `cerflow serve` gives uvicorn: the app, built with only the
youngest generation collected.

Importing and building the app creates ~140,000 long-lived objects (modules, classes,
pydantic schemas, routes) and little garbage, yet with the default thresholds the cyclic
collector passes over them again and again while they are built: two full collections
and 27 of the middle generation, ~0.09 s of CPU (three or four full ones and 0.15-0.2 s
before the API stopped importing redis-py, httpx, Jinja2 and the report models at start).
During the build only generation 0 is collected, so garbage still goes as it is made
(what survives one pass is almost all kept for good: ~4,700 more objects are frozen than
with the default collector, against ~74,000 with the collector off); then everything
built is frozen (`gc.freeze`: kept out of later collections, as the lifespan does again
for what start-up adds) and the thresholds are restored.

`cerflow.app:create_app` stays the factory for tests and for anyone embedding the app;
this module imports it inside the function, so the whole import happens in the window.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

# Older generations wait for this many passes of the younger one: more than a build makes.
_NEVER_DURING_BUILD = 1_000_000


def create_app() -> FastAPI:
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], _NEVER_DURING_BUILD, _NEVER_DURING_BUILD)
    try:
        from cerflow.app import create_app as build

        app = build()
        gc.freeze()
    finally:
        gc.set_threshold(*thresholds)
    return app
