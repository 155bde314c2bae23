"""A local openFDA: serves the five endpoints cerflow uses with openFDA's real protocol.

Usage (any test may reuse it):

    from tests.replay.openfda_server import OpenFDAReplayServer, build_dataset

    records = build_dataset(shared_data, drug_events=120, device_events=40)
    with OpenFDAReplayServer(records) as server:
        client = OpenFDAClient(server.base_url, ...)
        ...
        server.requests        # every request: path, params (decoded), time
        server.fail_next(429, times=1, headers={"Retry-After": "7"})

What it speaks:
- GET `/drug/event.json`, `/device/event.json`, `/device/recall.json`,
  `/drug/enforcement.json`, `/device/enforcement.json` with `search`, `limit`, `skip`,
  `count`, `sort`, `api_key`; and `/drug/label.json`, whose records
  `tests/replay/labels.py` builds from FDA's real SPL files (Lipitor, Humira).
- Answers `{"meta": {..., "results": {"skip", "limit", "total"}}, "results": [...]}`;
  `count=field` answers `{"meta": ..., "results": [{"term", "count"}]}` (top `limit`,
  default 100, at most 1,000).
- The whole-database background counts (`cerflow.sources.openfda_background`) are these
  same requests: `limit=1` totals of a date window, of a drug search in it and of
  `patient.reaction.reactionmeddrapt.exact:"TERM"` in it, and `count=...reactionmeddrapt
  .exact` over the drug search or the whole window; a count's `meta` has no `results`
  block, as at openFDA.
- 404 `{"error": {"code": "NOT_FOUND", "message": "No matches found!"}}` when nothing
  matches; 400 BAD_REQUEST for limit > 1000, skip > 25000 or a search it cannot parse;
  403 API_KEY_INVALID when `api_key` is set on the server and the request's differs.
- Scripted faults: `fail_next(status, times, headers=..., body=...)` answers the next
  `times` requests with that status (429 with Retry-After, 500, ...), then serves again.
- Search syntax (openFDA's Elasticsearch query string, as far as cerflow uses it):
  `field:value`, `field:"a phrase"`, `field:(A OR B)`, `field:[X TO Y]`, `AND`, `OR`
  (a bare space also means OR, as in openFDA), `NOT`, parentheses. Dotted fields traverse
  objects and lists. `.exact` fields compare whole values case-sensitively; other fields
  match a phrase as consecutive words, case-insensitively. Ranges compare dates
  (YYYYMMDD or YYYY-MM-DD) and numbers.

Records come from the real examples under `openfda_api_examples/` (and the openFDA
pipeline's own FAERS document), copied with varied ids, dates and product codes so that
paging has something to page.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ENDPOINTS = (
    "/drug/event.json",
    "/device/event.json",
    "/device/recall.json",
    "/drug/enforcement.json",
    "/device/enforcement.json",
    "/drug/label.json",  # records from the real SPL files: tests/replay/labels.py
)
META = {
    "disclaimer": (
        "Do not rely on openFDA to make decisions regarding medical care. While we make every "
        "effort to ensure that data is accurate, you should assume all results are unvalidated. "
        "We may limit or otherwise restrict your access to the API in line with our Terms of "
        "Service."
    ),
    "terms": "https://open.fda.gov/terms/",
    "license": "https://open.fda.gov/license/",
    "last_updated": "2024-01-01",
}
NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "No matches found!"}}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    params: dict[str, str]  # decoded query parameters (last value wins)
    raw_query: str
    time: float  # time.monotonic() on arrival


@dataclass(slots=True)
class _Fault:
    status: int
    times: int
    headers: dict[str, str]
    body: bytes
    path: str | None


# --------------------------------------------------------------------------- search syntax


class SearchSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Term:
    field: str
    kind: str  # value | phrase | any | range
    values: tuple[str, ...]


Node = tuple[Any, ...]


def _tokenize(text: str) -> list[Any]:
    tokens: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            tokens.append(c)
            i += 1
            continue
        m = re.match(r"(AND|OR|NOT)(?=[\s()]|$)", text[i:])
        if m:
            tokens.append(m.group(1))
            i += len(m.group(1))
            continue
        m = re.match(r"([A-Za-z0-9_.@]+):", text[i:])
        if not m:
            raise SearchSyntaxError(f"expected field:value at {text[i:]!r}")
        name = m.group(1)
        i += len(m.group(0))
        if i >= n:
            raise SearchSyntaxError(f"missing value for {name}")
        c = text[i]
        if c == '"':
            j = text.index('"', i + 1) if '"' in text[i + 1 :] else -1
            if j < 0:
                raise SearchSyntaxError("unterminated phrase")
            tokens.append(_Term(name, "phrase", (text[i + 1 : j],)))
            i = j + 1
        elif c == "[":
            j = text.find("]", i)
            if j < 0:
                raise SearchSyntaxError("unterminated range")
            parts = re.split(r"\s+TO\s+", text[i + 1 : j].strip())
            if len(parts) != 2:
                raise SearchSyntaxError(f"bad range {text[i : j + 1]!r}")
            tokens.append(_Term(name, "range", (parts[0], parts[1])))
            i = j + 1
        elif c == "(":
            j = text.find(")", i)
            if j < 0:
                raise SearchSyntaxError("unterminated group")
            values = [v.strip('"') for v in re.split(r"\s+OR\s+|\s+", text[i + 1 : j].strip())]
            tokens.append(_Term(name, "any", tuple(v for v in values if v and v != "OR")))
            i = j + 1
        else:
            m = re.match(r'[^\s()"]+', text[i:])
            if not m:
                raise SearchSyntaxError(f"bad value at {text[i:]!r}")
            tokens.append(_Term(name, "value", (m.group(0),)))
            i += len(m.group(0))
    return tokens


def parse_search(text: str) -> Node:
    """Parse into nested ('or'|'and', [...]) / ('not', node) / ('term', _Term) nodes."""
    tokens = _tokenize(text)
    pos = 0

    def peek() -> Any:
        return tokens[pos] if pos < len(tokens) else None

    def parse_or() -> Node:
        nonlocal pos
        items = [parse_and()]
        while peek() is not None and peek() != ")":
            if peek() == "OR":
                pos += 1
            items.append(parse_and())  # a bare space means OR
        return ("or", items)

    def parse_and() -> Node:
        nonlocal pos
        items = [parse_unary()]
        while peek() == "AND":
            pos += 1
            items.append(parse_unary())
        return ("and", items)

    def parse_unary() -> Node:
        nonlocal pos
        tok = peek()
        if tok == "NOT":
            pos += 1
            return ("not", parse_unary())
        if tok == "(":
            pos += 1
            node = parse_or()
            if peek() != ")":
                raise SearchSyntaxError("missing )")
            pos += 1
            return node
        if isinstance(tok, _Term):
            pos += 1
            return ("term", tok)
        raise SearchSyntaxError(f"unexpected {tok!r}")

    if not tokens:
        raise SearchSyntaxError("empty search")
    node = parse_or()
    if pos != len(tokens):
        raise SearchSyntaxError(f"unexpected {tokens[pos]!r}")
    return node


def field_values(record: Any, path: str) -> list[Any]:
    """Values at a dotted path, flattening lists on the way (as openFDA indexes them)."""
    current = [record]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            items = item if isinstance(item, list) else [item]
            for it in items:
                if isinstance(it, dict) and part in it:
                    value = it[part]
                    nxt.extend(value if isinstance(value, list) else [value])
        current = nxt
    return [v for v in current if v is not None and not isinstance(v, dict | list)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _phrase_in(phrase: str, value: str) -> bool:
    want, have = _words(phrase), _words(value)
    if not want:
        return False
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def _comparable(value: str) -> Any:
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{8}", text):
        return text.replace("-", "")
    try:
        return float(text)
    except ValueError:
        return text


def _term_matches(term: _Term, record: dict[str, Any]) -> bool:
    exact = term.field.endswith(".exact")
    path = term.field[: -len(".exact")] if exact else term.field
    values = [str(v) for v in field_values(record, path)]
    if term.kind == "range":
        lo, hi = (_comparable(v) for v in term.values)
        for v in values:
            cv = _comparable(v)
            try:
                if lo <= cv <= hi:
                    return True
            except TypeError:
                continue
        return False
    for wanted in term.values:
        for v in values:
            if exact and v == wanted:
                return True
            if not exact and _phrase_in(wanted, v):
                return True
    return False


def matches(node: Node, record: dict[str, Any]) -> bool:
    op = node[0]
    if op == "term":
        return _term_matches(node[1], record)
    if op == "not":
        return not matches(node[1], record)
    if op == "and":
        return all(matches(n, record) for n in node[1])
    return any(matches(n, record) for n in node[1])


# --------------------------------------------------------------------------- server


class OpenFDAReplayServer:
    """Threaded HTTP server on 127.0.0.1 with a random port; see the module docstring."""

    def __init__(
        self,
        records: dict[str, list[dict[str, Any]]] | None = None,
        *,
        api_key: str | None = None,
        max_limit: int = 1000,
        max_skip: int = 25000,
    ) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {e: [] for e in ENDPOINTS}
        for endpoint, docs in (records or {}).items():
            self.set_records(endpoint, docs)
        self.api_key = api_key
        self.max_limit = max_limit
        self.max_skip = max_skip
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> OpenFDAReplayServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenFDAReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting
    def set_records(self, endpoint: str, docs: Iterable[dict[str, Any]]) -> None:
        path = "/" + endpoint.strip("/")
        path = path if path.endswith(".json") else path + ".json"
        if path not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        self.records[path] = list(docs)

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `times` requests (to `path`, or any) with `status`."""
        if body is None:
            code = {429: "TOO_MANY_REQUESTS", 500: "SERVER_ERROR"}.get(status, "ERROR")
            body = {"error": {"code": code, "message": f"scripted {status}"}}
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        with self._lock:
            self._faults.append(_Fault(status, times, dict(headers or {}), raw, path))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- protocol
    def handle(self, path: str, raw_query: str) -> tuple[int, dict[str, str], bytes]:
        parsed = parse_qs(raw_query, keep_blank_values=True)
        params = {k: v[-1] for k, v in parsed.items()}
        with self._lock:
            self.requests.append(RecordedRequest(path, params, raw_query, time.monotonic()))
            for fault in self._faults:
                if fault.times > 0 and (fault.path is None or fault.path == path):
                    fault.times -= 1
                    return fault.status, fault.headers, fault.body
        if path not in ENDPOINTS:
            return _json(404, {"error": {"code": "NOT_FOUND", "message": "Not found"}})
        if self.api_key is not None and params.get("api_key") not in (None, self.api_key):
            return _json(
                403,
                {
                    "error": {
                        "code": "API_KEY_INVALID",
                        "message": "An invalid api_key was supplied.",
                    }
                },
            )
        try:
            limit = int(params.get("limit", "1" if "count" not in params else "100"))
            skip = int(params.get("skip", "0"))
        except ValueError:
            return _bad_request("Invalid limit or skip parameter")
        if limit > self.max_limit:
            return _bad_request(
                f"Limit cannot exceed {self.max_limit} results for search requests. "
                "Use the skip or search_after param to get additional results."
            )
        if skip > self.max_skip:
            return _bad_request(
                f"Skip value must {self.max_skip} or less. "
                "Use the search_after param to get additional results."
            )
        docs = self.records[path]
        if params.get("search"):
            try:
                node = parse_search(params["search"])
            except SearchSyntaxError as exc:
                return _bad_request(f"Invalid search: {exc}")
            docs = [d for d in docs if matches(node, d)]
        if "count" in params:
            return self._count(docs, params["count"], limit)
        if not docs:
            return _json(404, NOT_FOUND)
        if params.get("sort"):
            sort_field, _, order = params["sort"].partition(":")
            docs = sorted(
                docs,
                key=lambda d: str(next(iter(field_values(d, sort_field)), "")),
                reverse=order == "desc",
            )
        page = docs[skip : skip + limit]
        meta = dict(META, results={"skip": skip, "limit": limit, "total": len(docs)})
        return _json(200, {"meta": meta, "results": page})

    def _count(self, docs: list[dict[str, Any]], count_field: str, limit: int) -> Any:
        exact = count_field.endswith(".exact")
        path = count_field[: -len(".exact")] if exact else count_field
        counter: Counter[str] = Counter()
        for d in docs:
            values = {str(v) for v in field_values(d, path)}
            if not exact:
                values = {w for v in values for w in _words(v)}
            counter.update(values)
        if not counter:
            return _json(404, NOT_FOUND)
        rows = [{"term": t, "count": c} for t, c in counter.most_common(min(limit, 1000))]
        return _json(200, {"meta": dict(META), "results": rows})


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _bad_request(message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(400, {"error": {"code": "BAD_REQUEST", "message": message}})


def _make_handler(server: OpenFDAReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, headers, body = server.handle(parts.path, parts.query)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output clean

    return Handler


# --------------------------------------------------------------------------- datasets


@dataclass(slots=True)
class Examples:
    """The real documents the datasets are built from."""

    drug_event: dict[str, Any]
    drug_event_pipeline: dict[str, Any]
    device_event: dict[str, Any]
    device_recall: dict[str, Any]
    drug_enforcement: dict[str, Any]
    device_enforcement: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def load_examples(shared_data: Path) -> Examples:
    """Turn the documentation examples into whole openFDA result documents."""
    base = shared_data / "openfda_api_examples"

    def read(rel: str) -> Any:
        return json.loads((base / rel).read_text())

    drug = read("drug/event/_examples.json")
    header = dict(drug["header"])
    # The documentation calls the id `safetyreport`; the API and its field list say
    # `safetyreportid` (openfda_fields/drugevent.yaml).
    header["safetyreportid"] = header.pop("safetyreport")
    drug_doc = {**header, "patient": drug["patient"]}

    pipeline = json.loads(
        (shared_data / "openfda_pipeline_tests/faers/event.postannotation.json").read_text()
    )
    pipeline_doc = {k: v for k, v in pipeline.items() if not k.startswith("@")}

    device = read("device/event/_examples.json")
    device_doc = {
        **device["header"],
        "device": device["device"],
        "mdr_text": device["mdr_text"],
        "patient": device["patient"],
    }
    recall = read("device/recall/_examples.json")
    drug_enf = read("drug/enforcement/_examples.json")["result"]
    device_enf = read("device/enforcement/_examples.json")["result"]
    return Examples(
        drug_event=drug_doc,
        drug_event_pipeline=pipeline_doc,
        device_event=device_doc,
        device_recall=recall["anatomy"]["results"][0],
        drug_enforcement=drug_enf,
        device_enforcement=device_enf,
        extra={"device_recall_record": recall["record"]},
    )


def _day(start: dt.date, i: int, spread_days: int, n: int) -> dt.date:
    return start + dt.timedelta(days=(i * spread_days) // max(n, 1))


def make_drug_events(
    ex: Examples, n: int, *, start: dt.date = dt.date(2020, 1, 1), spread_days: int = 366
) -> list[dict[str, Any]]:
    """n reports alternating the two real documents, unique ids, receive dates spread out."""
    out = []
    for i in range(n):
        doc = copy.deepcopy(ex.drug_event if i % 2 == 0 else ex.drug_event_pipeline)
        doc["safetyreportid"] = str(10_000_000 + i)
        doc["receivedate"] = _fmt(_day(start, i, spread_days, n))
        out.append(doc)
    return out


def make_device_events(
    ex: Examples,
    n: int,
    *,
    codes: tuple[str, ...] = ("NIQ", "DQA"),
    start: dt.date = dt.date(2020, 1, 1),
    spread_days: int = 366,
) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        doc = copy.deepcopy(ex.device_event)
        doc["mdr_report_key"] = str(20_000_000 + i)
        doc["report_number"] = f"2024168-2020-{i:05d}"
        doc["date_received"] = _fmt(_day(start, i, spread_days, n))
        for dev in doc["device"]:
            dev["device_report_product_code"] = codes[i % len(codes)]
        out.append(doc)
    return out


def make_device_recalls(
    ex: Examples, n: int, *, codes: tuple[str, ...] = ("FOZ", "NIQ")
) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        doc = copy.deepcopy(ex.device_recall)
        doc["product_res_number"] = f"Z-{i:04d}-2020"
        doc["product_code"] = codes[i % len(codes)]
        day = dt.date(2019, 1, 1) + dt.timedelta(days=3 * i)
        doc["event_date_initiated"] = day.isoformat()
        out.append(doc)
    return out


def make_enforcements(
    ex: Examples, kind: str, n: int, *, codes: tuple[str, ...] = ("FOZ", "NIQ")
) -> list[dict[str, Any]]:
    """Enforcement copies; the documentation example lacks `recall_number`, real ones have it."""
    base = ex.drug_enforcement if kind == "drug" else ex.device_enforcement
    prefix = "D" if kind == "drug" else "Z"
    out = []
    for i in range(n):
        doc = copy.deepcopy(base)
        doc["recall_number"] = f"{prefix}-{1000 + i}-2013"
        doc["report_date"] = _fmt(dt.date(2013, 1, 1) + dt.timedelta(days=7 * i))
        if kind == "device":
            doc["product_code"] = codes[i % len(codes)]
        out.append(doc)
    return out


def _fmt(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def build_dataset(
    shared_data: Path,
    *,
    drug_events: int = 50,
    device_events: int = 20,
    device_recalls: int = 6,
    enforcements: int = 4,
) -> dict[str, list[dict[str, Any]]]:
    """A small openFDA with every endpoint populated from the real examples."""
    ex = load_examples(shared_data)
    return {
        "/drug/event.json": make_drug_events(ex, drug_events),
        "/device/event.json": make_device_events(ex, device_events),
        "/device/recall.json": make_device_recalls(ex, device_recalls),
        "/drug/enforcement.json": make_enforcements(ex, "drug", enforcements),
        "/device/enforcement.json": make_enforcements(ex, "device", enforcements),
    }
