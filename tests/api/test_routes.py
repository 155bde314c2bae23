"""One router list, and endpoints that stay thin (queries belong in each domain's service)."""

from __future__ import annotations

import re
from pathlib import Path

import cerflow
from cerflow.api.routes import ROUTERS

SRC = Path(cerflow.__file__).parent
QUERY = re.compile(r"select\(|session\.get\(|session\.scalars?\(|session\.execute\(|\.query\(")


def _endpoint_files() -> list[Path]:
    return sorted(SRC.glob("*/endpoints.py"))


def test_no_queries_in_endpoints() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in _endpoint_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if QUERY.search(line)
    ]
    assert offenders == [], "move these queries to the domain's service.py"


def test_every_endpoints_module_is_served() -> None:
    served = {r.routes[0].endpoint.__module__ for r in ROUTERS if r.routes}
    domains = {f"cerflow.{p.parent.name}.endpoints" for p in _endpoint_files()}
    assert domains <= served
    assert not list(SRC.glob("*/router.py")), "the convention is <domain>/endpoints.py"
