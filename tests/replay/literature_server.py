"""A local NCBI E-utilities, Europe PMC and ClinicalTrials.gov v2, speaking their protocols.

Usage:

    from tests.replay.literature_server import LiteratureReplayServer, real_pubmed_articles

    with LiteratureReplayServer(pubmed=real_pubmed_articles()) as server:
        client = PubMedClient(server.ncbi_url, ...)
        server.requests                   # every request: path and decoded params
        server.fail_next(429, times=1, headers={"Retry-After": "2"})

What it speaks:
- `GET /entrez/eutils/esearch.fcgi?db=pubmed&term=...&usehistory=y&retmax=N` -> an
  `<eSearchResult>` in NCBI's layout (the DOCTYPE and element order of the real
  `esearch2.xml`) with `Count`, `RetMax`, `RetStart`, `QueryKey`, `WebEnv` and `IdList`.
  Every term matches every article, except a term listed in `no_match` (0 results with
  NCBI's `PhraseNotFound` error list, as in the real `esearch8.xml`). `count_override`
  answers a larger Count than there are articles (to test the cap).
- `GET /entrez/eutils/efetch.fcgi?db=pubmed&WebEnv&query_key&retstart&retmax` (or `id=`)
  -> a `<PubmedArticleSet>` holding the real `<PubmedArticle>` elements of that slice; a
  wrong WebEnv answers NCBI's error. An `id` not held is left out, as NCBI does for a
  withdrawn PMID.
- `GET /europepmc/webservices/rest/search?query&format=json&pageSize&cursorMark` -> the
  real Europe PMC records in pages; `nextCursorMark` is an opaque token, and the last page
  repeats the cursor it was asked with, as Europe PMC does.
- `GET /ctgov/api/v2/studies?query.term&pageSize&pageToken&countTotal` and
  `/ctgov/api/v2/studies/{nctId}`.
- `api_key` (NCBI): when the server has `ncbi_api_key` set, a request with a different key
  gets NCBI's 400 `{"error":"API key invalid"}`.
- Scripted faults: `fail_next(status, times, headers=..., body=..., path=...)`.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "literature"
WEBENV = "MCID_replay_0000000000000001"
ESEARCH_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_HEAD = (
    '<?xml version="1.0" ?>\n'
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)


def real_pubmed_articles(*names: str) -> list[str]:
    """The <PubmedArticle> elements (as XML text) of biopython's real efetch answers."""
    out: list[str] = []
    for name in names or ("pubmed1.xml", "pubmed2.xml"):
        root = ET.parse(FIXTURES / name).getroot()
        out.extend(ET.tostring(a, encoding="unicode") for a in root.iterfind("PubmedArticle"))
    return out


def real_europepmc_results(name: str = "europepmc_search_cancer.json") -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return list(data["resultList"]["result"])


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    params: dict[str, str]
    time: float


@dataclass(slots=True)
class _Fault:
    status: int
    times: int
    headers: dict[str, str]
    body: bytes
    path: str | None


def _pmid(article_xml: str) -> str:
    return ET.fromstring(article_xml).findtext("MedlineCitation/PMID") or ""


class LiteratureReplayServer:
    def __init__(
        self,
        *,
        pubmed: list[str] | None = None,
        europepmc: list[dict[str, Any]] | None = None,
        ctgov: list[dict[str, Any]] | None = None,
        ncbi_api_key: str | None = None,
        no_match: tuple[str, ...] = (),
        count_override: int | None = None,
    ) -> None:
        self.pubmed = list(pubmed or [])
        self.europepmc = list(europepmc or [])
        self.ctgov = list(ctgov or [])
        self.ncbi_api_key = ncbi_api_key
        self.no_match = no_match
        self.count_override = count_override
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LiteratureReplayServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
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

    def __enter__(self) -> LiteratureReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def ncbi_url(self) -> str:
        return self.base_url + "/entrez/eutils"

    @property
    def europepmc_url(self) -> str:
        return self.base_url + "/europepmc/webservices/rest"

    @property
    def ctgov_url(self) -> str:
        return self.base_url + "/ctgov/api/v2"

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: str | bytes = "",
        path: str | None = None,
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._faults.append(_Fault(status, times, dict(headers or {}), raw, path))

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    # -- protocol
    def handle(self, path: str, raw_query: str) -> tuple[int, dict[str, str], bytes]:
        params = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(path, params, time.monotonic()))
            for fault in self._faults:
                if fault.times > 0 and (fault.path is None or path.endswith(fault.path)):
                    fault.times -= 1
                    return fault.status, fault.headers, fault.body
        if path.startswith("/entrez/eutils/"):
            if self.ncbi_api_key is not None and params.get("api_key") != self.ncbi_api_key:
                return _json(400, {"error": "API key invalid"})
            if path.endswith("/esearch.fcgi"):
                return self._esearch(params)
            if path.endswith("/efetch.fcgi"):
                return self._efetch(params)
        if path == "/europepmc/webservices/rest/search":
            return self._europepmc(params)
        if path == "/ctgov/api/v2/studies":
            return self._ctgov_search(params)
        if path.startswith("/ctgov/api/v2/studies/"):
            nct = path.rsplit("/", 1)[1]
            for study in self.ctgov:
                if study["protocolSection"]["identificationModule"]["nctId"] == nct:
                    return _json(200, study)
            return _json(404, {"message": f"Study {nct} not found"})
        return _json(404, {"error": "not found"})

    def _esearch(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        term = params.get("term", "")
        retmax = int(params.get("retmax", "20"))
        retstart = int(params.get("retstart", "0"))
        if term in self.no_match:
            body = (
                ESEARCH_HEAD + "<eSearchResult><Count>0</Count><RetMax>0</RetMax>"
                "<RetStart>0</RetStart><IdList/><TranslationSet/>"
                f"<QueryTranslation>({term}[All Fields])</QueryTranslation>"
                f"<ErrorList><PhraseNotFound>{term}</PhraseNotFound></ErrorList>"
                "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>"
                "</eSearchResult>"
            )
            return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()
        ids = [_pmid(a) for a in self.pubmed]
        count = self.count_override if self.count_override is not None else len(ids)
        page = ids[retstart : retstart + retmax]
        history = ""
        if params.get("usehistory") == "y":
            history = f"<QueryKey>1</QueryKey><WebEnv>{WEBENV}</WebEnv>"
        body = (
            ESEARCH_HEAD + f"<eSearchResult><Count>{count}</Count><RetMax>{len(page)}</RetMax>"
            f"<RetStart>{retstart}</RetStart>{history}<IdList>\n"
            + "".join(f"<Id>{i}</Id>\n" for i in page)
            + "</IdList><TranslationSet/>"
            f"<QueryTranslation>{term}</QueryTranslation></eSearchResult>"
        )
        return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()

    def _efetch(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if "id" in params:
            wanted = set(params["id"].split(","))
            chosen = [a for a in self.pubmed if _pmid(a) in wanted]
        else:
            if params.get("WebEnv") != WEBENV or params.get("query_key") != "1":
                body = (
                    '<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>'
                    "<ERROR>Unable to obtain query #1</ERROR></eFetchResult>"
                )
                return 400, {"Content-Type": "text/xml"}, body.encode()
            start = int(params.get("retstart", "0"))
            size = int(params.get("retmax", "20"))
            chosen = self.pubmed[start : start + size]
        body = EFETCH_HEAD + "<PubmedArticleSet>\n" + "".join(chosen) + "</PubmedArticleSet>"
        return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()

    def _europepmc(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        query = params.get("query", "")
        size = int(params.get("pageSize", "25"))
        if not 1 <= size <= 1000:
            return _json(400, {"errCode": 400, "errMsg": "pageSize must be 1..1000"})
        cursor = params.get("cursorMark", "*")
        start = 0 if cursor == "*" else int(cursor.removeprefix("AoIIP"))
        docs = [] if query in self.no_match else self.europepmc
        page = docs[start : start + size]
        end = start + len(page)
        nxt = f"AoIIP{end}" if end < len(docs) else cursor
        body: dict[str, Any] = {
            "version": "6.9",
            "hitCount": len(docs),
            "nextCursorMark": nxt,
            "request": {
                "queryString": query,
                "resultType": params.get("resultType", "lite"),
                "cursorMark": cursor,
                "pageSize": size,
                "sort": "",
                "synonym": False,
            },
            "resultList": {"result": page},
        }
        if not docs:
            body.pop("nextCursorMark")
        return _json(200, body)

    def _ctgov_search(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        size = int(params.get("pageSize", "10"))
        token = params.get("pageToken")
        start = int(token.removeprefix("tok")) if token else 0
        docs = [] if params.get("query.term", "") in self.no_match else self.ctgov
        page = docs[start : start + size]
        body: dict[str, Any] = {"studies": page}
        if start + size < len(docs):
            body["nextPageToken"] = f"tok{start + size}"
        if params.get("countTotal") == "true" and not token:
            body["totalCount"] = len(docs)
        return _json(200, body)


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _make_handler(server: LiteratureReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, headers, body = server.handle(parts.path, parts.query)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
