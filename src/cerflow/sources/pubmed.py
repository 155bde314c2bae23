"""PubMed through NCBI E-utilities: esearch with the history server, efetch XML in batches.

Why it looks like this:
- `esearch.fcgi?usehistory=y&retmax=0` returns the match count with a `WebEnv` and
  `query_key` that name the result set on NCBI's history server; `efetch.fcgi` then reads
  it in batches of `retstart`/`retmax` (NCBI recommends at most 10,000 UIDs per history
  read and asks for batches of a few hundred).
- NCBI allows 3 requests/s per IP without an API key and 10 with one; `tool` and `email`
  identify the caller as NCBI asks. The key only ever leaves as the `api_key` parameter.
- A search that matches more than `max_records` fetches the first `max_records` and says
  so in the result (`capped`), never silently.
- esearch answers errors inside 200 responses (`<ERROR>`, `<ErrorList>`); a malformed XML
  body raises a `SourceFormatError` naming the URL, and nothing is returned.
- A PMID asked for but absent from efetch's answer (withdrawn or removed records) is named
  in the result's messages.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.sources.literature_base import (
    LiteratureClient,
    LiteratureHttp,
    LiteratureRecord,
    LiteratureSourceError,
    SearchResult,
    parse_year,
)

if TYPE_CHECKING:
    from cerflow.config import Settings

SOURCE = "pubmed"
RATE_NO_KEY = 3.0
RATE_WITH_KEY = 10.0
DEFAULT_BATCH = 200


def _parse_xml(body: bytes, location: str) -> ET.Element:
    if b"<!ENTITY" in body:
        raise SourceFormatError("XML with entity declarations is refused", location=location)
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SourceFormatError(f"malformed XML from NCBI: {exc}", location=location) from None


def parse_esearch(body: bytes, location: str = "esearch") -> dict[str, Any]:
    """Count, WebEnv, QueryKey, the ids in this page and NCBI's warnings from an esearch XML."""
    root = _parse_xml(body, location)
    if root.tag != "eSearchResult":
        raise SourceFormatError(
            f"expected <eSearchResult>, got <{root.tag}>", location=location, field="root"
        )
    error = root.findtext("ERROR")
    if error:
        raise LiteratureSourceError(error, source=SOURCE, url=location)
    count_text = root.findtext("Count")
    if count_text is None or not count_text.strip().isdigit():
        raise SourceFormatError(
            f"missing or non-numeric <Count>: {count_text!r}", location=location, field="Count"
        )
    messages: list[str] = []
    for block in ("ErrorList", "WarningList"):
        node = root.find(block)
        if node is not None:
            messages.extend(f"{child.tag}: {(child.text or '').strip()}" for child in node)
    return {
        "count": int(count_text),
        "webenv": root.findtext("WebEnv"),
        "query_key": root.findtext("QueryKey"),
        "ids": [i.text.strip() for i in root.iterfind("IdList/Id") if i.text],
        "translation": root.findtext("QueryTranslation"),
        "messages": messages,
    }


def _text(node: ET.Element | None) -> str:
    return "".join(node.itertext()).strip() if node is not None else ""


def parse_article(article: ET.Element) -> LiteratureRecord:
    """One <PubmedArticle> -> a normalized record (abstract sections joined with labels)."""
    pmid = article.findtext("MedlineCitation/PMID") or ""
    art = article.find("MedlineCitation/Article")
    title = _text(art.find("ArticleTitle")) if art is not None else ""
    parts: list[str] = []
    if art is not None:
        for node in art.iterfind("Abstract/AbstractText"):
            label = node.get("Label")
            text = _text(node)
            parts.append(f"{label}: {text}" if label else text)
    authors: list[str] = []
    if art is not None:
        for au in art.iterfind("AuthorList/Author"):
            last = au.findtext("LastName")
            if last:
                initials = au.findtext("Initials") or ""
                authors.append(f"{last} {initials}".strip())
            elif au.findtext("CollectiveName"):
                authors.append(au.findtext("CollectiveName") or "")
    journal = None
    year = None
    if art is not None:
        journal = art.findtext("Journal/Title") or art.findtext("Journal/ISOAbbreviation")
        pub = art.find("Journal/JournalIssue/PubDate")
        if pub is not None:
            year = parse_year(pub.findtext("Year") or pub.findtext("MedlineDate"))
    ids = {
        (node.get("IdType") or ""): (node.text or "").strip()
        for node in article.iterfind("PubmedData/ArticleIdList/ArticleId")
    }
    return LiteratureRecord(
        database=SOURCE,
        source_id=pmid,
        title=title,
        pmid=pmid or None,
        pmcid=ids.get("pmc") or None,
        doi=ids.get("doi") or None,
        abstract="\n".join(parts) or None,
        authors=tuple(authors),
        journal=journal,
        year=year,
        payload={"xml": ET.tostring(article, encoding="unicode")},
    )


def parse_efetch(body: bytes, location: str = "efetch") -> list[LiteratureRecord]:
    root = _parse_xml(body, location)
    if root.tag != "PubmedArticleSet":
        raise SourceFormatError(
            f"expected <PubmedArticleSet>, got <{root.tag}>", location=location, field="root"
        )
    out: list[LiteratureRecord] = []
    for i, article in enumerate(root.iterfind("PubmedArticle")):
        if not article.findtext("MedlineCitation/PMID"):
            raise SourceFormatError(
                f"article {i + 1} has no PMID", location=location, field="MedlineCitation/PMID"
            )
        out.append(parse_article(article))
    return out


class PubMedClient(LiteratureClient):
    """esearch (history) + efetch in batches; see the module docstring."""

    def __init__(
        self,
        base_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
        *,
        api_key: SecretStr | str | None = None,
        tool: str = "cerflow",
        email: str = "",
        batch_size: int = DEFAULT_BATCH,
        max_records: int = 10_000,
        timeout: float = 30.0,
        max_retries: int = 5,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        backoff_initial: float = 1.0,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._api_key = key or None
        self.tool = tool
        self.email = email
        self.batch_size = batch_size
        self.max_records = max_records
        self.http = LiteratureHttp(
            source=SOURCE,
            base_url=base_url,
            per_second=RATE_WITH_KEY if self._api_key else RATE_NO_KEY,
            timeout=timeout,
            max_retries=max_retries,
            http=http,
            clock=clock,
            sleep=sleep,
            backoff_initial=backoff_initial,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PubMedClient:
        return cls(
            settings.ncbi_base_url,
            api_key=settings.ncbi_api_key,
            tool=settings.ncbi_tool,
            email=settings.ncbi_email,
            max_records=settings.literature_max_records,
            timeout=settings.literature_timeout,
            max_retries=settings.literature_max_retries,
            **kwargs,
        )

    def _common(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {"db": "pubmed", "tool": self.tool}
        if self.email:
            params["email"] = self.email
        if self._api_key:
            params["api_key"] = self._api_key
        return params

    def search(
        self, term: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> SearchResult:
        if not term.strip():
            raise ValueError("empty PubMed query: give the protocol a query string for PubMed")
        params = {**self._common(), "term": term, "usehistory": "y", "retmax": 0}
        if since or until:
            params["datetype"] = "pdat"
            params["mindate"] = (since or dt.date(1800, 1, 1)).strftime("%Y/%m/%d")
            params["maxdate"] = (until or dt.date.today()).strftime("%Y/%m/%d")
        body, prov = self.http.get("esearch.fcgi", params, query=term)
        head = parse_esearch(body, prov.location)
        total = head["count"]
        provenance: list[Provenance] = [prov]
        records: list[LiteratureRecord] = []
        messages = list(head["messages"])
        wanted = min(total, self.max_records)
        if wanted and not (head["webenv"] and head["query_key"]):
            raise SourceFormatError(
                "esearch with usehistory=y answered no WebEnv/QueryKey",
                location=prov.location,
                field="WebEnv",
            )
        start = 0
        while start < wanted:
            size = min(self.batch_size, wanted - start)
            fetch = {
                **self._common(),
                "query_key": head["query_key"],
                "WebEnv": head["webenv"],
                "retstart": start,
                "retmax": size,
                "retmode": "xml",
            }
            page, page_prov = self.http.get("efetch.fcgi", fetch, query=term)
            provenance.append(page_prov)
            batch = parse_efetch(page, page_prov.location)
            if len(batch) < size:
                messages.append(
                    f"efetch returned {len(batch)} of {size} record(s) at retstart={start}; "
                    "the others are not available (withdrawn or removed from PubMed)"
                )
            if not batch:
                break
            records.extend(batch)
            start += size
        return SearchResult(
            database=SOURCE,
            query=term,
            total=total,
            records=records,
            provenance=provenance,
            capped=total > self.max_records,
            max_records=self.max_records,
            messages=messages,
        )

    def fetch_ids(self, pmids: list[str]) -> tuple[list[LiteratureRecord], list[str]]:
        """Records for the given PMIDs, and the PMIDs NCBI did not return (withdrawn...)."""
        clean = [p.strip() for p in pmids if p.strip()]
        bad = [p for p in clean if not p.isdigit()]
        if bad:
            raise ValueError(f"not a PMID (digits only): {', '.join(bad)}")
        out: list[LiteratureRecord] = []
        for i in range(0, len(clean), self.batch_size):
            chunk = clean[i : i + self.batch_size]
            params = {**self._common(), "id": ",".join(chunk), "retmode": "xml"}
            body, prov = self.http.get("efetch.fcgi", params)
            out.extend(parse_efetch(body, prov.location))
        seen = {r.pmid for r in out}
        return out, [p for p in clean if p not in seen]
