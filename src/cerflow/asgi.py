"""The application factory `cerflow serve` gives uvicorn: the app, built without full
garbage collections.

Importing and building the app creates ~160,000 long-lived objects (modules, classes,
pydantic schemas, routes) and little garbage, yet the cyclic collector's full passes run
over all of them several times while they are built: 0.13-0.16 s of CPU, about a tenth of
the API's start on a two-core machine (benchmarks/startup.py). During the build only the
young generations are collected (what garbage there is, is young); then everything built
is frozen (`gc.freeze`: kept out of later collections, as the lifespan does again for what
start-up adds) and the thresholds are restored.

`cerflow.app:create_app` stays the factory for tests and for anyone embedding the app;
this module imports it inside the function, so the whole import happens in the window.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

# Full collections wait for this many young-generation passes: more than a build makes.
_NO_FULL_COLLECTION = 1_000_000


def create_app() -> FastAPI:
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], _NO_FULL_COLLECTION)
    try:
        from cerflow.app import create_app as build

        app = build()
        gc.freeze()
    finally:
        gc.set_threshold(*thresholds)
    return app
