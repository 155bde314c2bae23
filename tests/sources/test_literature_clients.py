"""PubMed, Europe PMC and ClinicalTrials.gov clients against the local replay server.

The expected values are read off the real fixture files by hand (see
tests/fixtures/literature/README.md), not computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cerflow.sources.base import SourceFormatError
from cerflow.sources.ctgov import ClinicalTrialsClient, adverse_events
from cerflow.sources.europepmc import EuropePMCClient, parse_page
from cerflow.sources.europepmc import normalize as epmc_normalize
from cerflow.sources.literature_base import LiteratureSourceError, RateLimiter
from cerflow.sources.pubmed import PubMedClient, parse_efetch, parse_esearch
from tests.replay.literature_server import (
    LiteratureReplayServer,
    real_europepmc_results,
    real_pubmed_articles,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "literature"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- parsers


def test_parse_real_esearch_with_history() -> None:
    head = parse_esearch((FIX / "esearch2.xml").read_bytes())
    assert head["count"] == 42249
    assert head["webenv"] == "MCID_6927d6e7fee3e90f880ec190"
    assert head["query_key"] == "1"
    assert len(head["ids"]) == 100
    assert head["ids"][0] == "41297076"


def test_parse_real_esearch_zero_results_keeps_ncbi_words() -> None:
    head = parse_esearch((FIX / "esearch8.xml").read_bytes())
    assert head["count"] == 0
    assert head["ids"] == []
    assert "PhraseNotFound: abcXYZ" in head["messages"]
    assert "OutputMessage: No items found." in head["messages"]


def test_parse_real_efetch_normalizes_identifiers() -> None:
    recs = parse_efetch((FIX / "pubmed2.xml").read_bytes())
    assert [r.pmid for r in recs] == ["11748933", "11700088"]
    first = recs[0]
    assert first.doi == "10.1006/cryo.2001.2328"
    assert first.year == 2001
    assert first.journal == "Cryobiology"
    assert first.title.startswith("Is cryopreservation a homogeneous process?")
    assert first.authors[:2] == ("Taddei AR", "Barbato F")
    assert len(first.authors) == 8
    assert first.abstract is not None and first.abstract.startswith("This study subdivides")
    # pubmed1.xml: a season instead of a month, and an article without abstract or DOI
    recs1 = parse_efetch((FIX / "pubmed1.xml").read_bytes())
    assert recs1[0].pmid == "12091962" and recs1[0].year == 1990 and recs1[0].doi is None
    assert recs1[0].abstract is None
    assert recs1[1].doi == "10.1016/0005-2795(76)90109-4" and recs1[1].year == 1976


def test_malformed_xml_is_a_clear_error() -> None:
    with pytest.raises(SourceFormatError, match="malformed XML"):
        parse_efetch(b"<PubmedArticleSet><PubmedArticle>", "http://x/efetch.fcgi")
    with pytest.raises(SourceFormatError, match="expected <eSearchResult>"):
        parse_esearch(b"<html>maintenance</html>", "http://x/esearch.fcgi")
    with pytest.raises(SourceFormatError, match="refused"):
        parse_esearch(b'<!DOCTYPE x [<!ENTITY a "b">]><eSearchResult/>', "u")


def test_europepmc_real_page_and_normalize() -> None:
    page = parse_page((FIX / "europepmc_search_cancer.json").read_bytes())
    assert page["count"] == 5059039
    assert page["next"] == "AoIIP4ZawSg1MzEyODI1MA=="
    assert len(page["results"]) == 25
    rec = epmc_normalize(page["results"][3])
    assert rec.pmid == "40464630"
    assert rec.doi == "10.3238/arztebl.m2025.0086"
    assert rec.journal == "Dtsch Arztebl Int"
    assert rec.year == 2025
    assert rec.authors[0] == "Dinkel A" and len(rec.authors) == 6
    empty = parse_page((FIX / "europepmc_search_no_results.json").read_bytes())
    assert empty["count"] == 0 and empty["results"] == []
    with pytest.raises(SourceFormatError, match="hitCount"):
        parse_page(b'{"resultList": {"result": []}}', "u")
    with pytest.raises(SourceFormatError, match="malformed JSON"):
        parse_page(b'{"hitCount": 1,', "u")


# --------------------------------------------------------------------------- PubMed


def test_pubmed_history_paging_in_batches_with_api_key() -> None:
    fake = FakeClock()
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles(), ncbi_api_key="k3y") as srv,
        PubMedClient(
            srv.ncbi_url,
            api_key="k3y",
            tool="cerflow-test",
            email="qa@example.org",
            batch_size=3,
            clock=fake.clock,
            sleep=fake.sleep,
        ) as client,
    ):
        res = client.search("aspirin", since=dt.date(1970, 1, 1), until=dt.date(2020, 12, 31))
    assert res.total == 4
    assert [r.pmid for r in res.records] == ["12091962", "9997", "11748933", "11700088"]
    assert not res.capped
    searches = srv.requests_to("esearch.fcgi")
    fetches = srv.requests_to("efetch.fcgi")
    assert len(searches) == 1 and len(fetches) == 2  # 4 records in batches of 3
    assert searches[0].params["usehistory"] == "y"
    assert searches[0].params["mindate"] == "1970/01/01"
    assert searches[0].params["maxdate"] == "2020/12/31"
    assert [f.params["retstart"] for f in fetches] == ["0", "3"]
    assert [f.params["retmax"] for f in fetches] == ["3", "1"]
    for req in searches + fetches:
        assert req.params["api_key"] == "k3y"
        assert req.params["tool"] == "cerflow-test"
        assert req.params["email"] == "qa@example.org"
    # 10 requests/s with a key: 3 requests -> two waits of 0.1 s on a frozen clock
    assert fake.slept == pytest.approx([0.1, 0.1])
    # provenance: one entry per request, key redacted, checksum of the body
    assert len(res.provenance) == 3
    assert all("api_key=REDACTED" in p.location and "k3y" not in p.location for p in res.provenance)
    assert all(len(p.sha256) == 64 for p in res.provenance)
    assert res.provenance[0].query == "aspirin"


def test_pubmed_wrong_key_is_a_clear_error_without_the_key() -> None:
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles(), ncbi_api_key="right") as srv,
        PubMedClient(srv.ncbi_url, api_key="wrong-secret", sleep=lambda s: None) as c,
        pytest.raises(LiteratureSourceError) as info,
    ):
        c.search("aspirin")
    assert "API key invalid" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    assert info.value.status == 400


def test_pubmed_rate_without_key_is_three_per_second() -> None:
    fake = FakeClock()
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles()) as srv,
        PubMedClient(srv.ncbi_url, batch_size=1, clock=fake.clock, sleep=fake.sleep) as c,
    ):
        res = c.search("x")
    assert len(res.records) == 4
    assert "api_key" not in srv.requests[0].params
    assert fake.slept == pytest.approx([1 / 3] * 4)  # 5 requests, 4 waits


def test_pubmed_retries_429_with_retry_after_and_5xx() -> None:
    fake = FakeClock()
    with LiteratureReplayServer(pubmed=real_pubmed_articles()) as srv:
        srv.fail_next(429, times=1, headers={"Retry-After": "2"}, path="esearch.fcgi")
        srv.fail_next(502, times=1, path="efetch.fcgi")
        with PubMedClient(
            srv.ncbi_url, batch_size=10, clock=fake.clock, sleep=fake.sleep, backoff_initial=0.5
        ) as c:
            res = c.search("x")
    assert len(res.records) == 4
    assert len(srv.requests_to("esearch.fcgi")) == 2
    assert len(srv.requests_to("efetch.fcgi")) == 2
    assert 2.0 in fake.slept  # Retry-After honoured


def test_pubmed_gives_up_after_max_retries() -> None:
    with LiteratureReplayServer(pubmed=real_pubmed_articles()) as srv:
        srv.fail_next(503, times=10, body="Service Unavailable")
        with (
            PubMedClient(srv.ncbi_url, max_retries=3, sleep=lambda s: None) as c,
            pytest.raises(LiteratureSourceError, match="gave up after 3 attempts"),
        ):
            c.search("x")
        assert len(srv.requests) == 3


def test_pubmed_zero_results_and_cap() -> None:
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles(), no_match=("abcXYZ",)) as srv,
        PubMedClient(srv.ncbi_url, sleep=lambda s: None) as c,
    ):
        none = c.search("abcXYZ")
    assert none.total == 0 and none.records == []
    assert "PhraseNotFound: abcXYZ" in none.messages
    assert none.note == "pubmed: the query matched no record"
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles(), count_override=100_000) as srv,
        PubMedClient(srv.ncbi_url, max_records=2, sleep=lambda s: None) as c,
    ):
        big = c.search("cancer")
    assert big.total == 100_000 and len(big.records) == 2 and big.capped
    assert "100,000 records match; the first 2 were fetched" in big.note
    assert "CERFLOW_LITERATURE_MAX_RECORDS=2" in big.note


def test_pubmed_withdrawn_pmid_is_named() -> None:
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles()) as srv,
        PubMedClient(srv.ncbi_url, sleep=lambda s: None) as c,
    ):
        recs, missing = c.fetch_ids(["9997", "99999999"])
        with pytest.raises(ValueError, match="not a PMID"):
            c.fetch_ids(["PMC123"])
    assert [r.pmid for r in recs] == ["9997"]
    assert missing == ["99999999"]


def test_pubmed_malformed_response_is_a_clear_error() -> None:
    with LiteratureReplayServer(pubmed=real_pubmed_articles()) as srv:
        srv.fail_next(200, body="<eSearchResult><Count>4</Count", path="esearch.fcgi")
        with (
            PubMedClient(srv.ncbi_url, sleep=lambda s: None) as c,
            pytest.raises(SourceFormatError, match=r"esearch\.fcgi.*malformed XML"),
        ):
            c.search("x")


# --------------------------------------------------------------------------- Europe PMC


def test_europepmc_cursor_paging_over_real_records() -> None:
    docs = real_europepmc_results()
    with (
        LiteratureReplayServer(europepmc=docs) as srv,
        EuropePMCClient(srv.europepmc_url, page_size=10, sleep=lambda s: None) as c,
    ):
        res = c.search("cancer", since=dt.date(2020, 1, 1), until=dt.date(2025, 12, 31))
    assert res.total == 25
    assert len(res.records) == 25
    assert [r.source_id for r in res.records][:2] == ["MED:39709209", "MED:39709208"]
    reqs = srv.requests_to("/search")
    assert [r.params["cursorMark"] for r in reqs] == ["*", "AoIIP10", "AoIIP20"]
    assert [r.params["pageSize"] for r in reqs] == ["10", "10", "10"]
    assert reqs[0].params["query"] == "(cancer) AND FIRST_PDATE:[2020-01-01 TO 2025-12-31]"
    assert reqs[0].params["resultType"] == "core"
    assert len(res.provenance) == 3


def test_europepmc_cap_and_zero() -> None:
    docs = real_europepmc_results()
    with (
        LiteratureReplayServer(europepmc=docs, no_match=("nothing",)) as srv,
        EuropePMCClient(srv.europepmc_url, page_size=5, max_records=7, sleep=lambda s: None) as c,
    ):
        capped = c.search("cancer")
        empty = c.search("nothing")
    assert capped.total == 25 and len(capped.records) == 7 and capped.capped
    assert [r.params["pageSize"] for r in srv.requests_to("/search")][:2] == ["5", "2"]
    assert empty.total == 0 and empty.records == [] and not empty.capped


def test_europepmc_retry_then_malformed() -> None:
    docs = real_europepmc_results()
    with LiteratureReplayServer(europepmc=docs) as srv:
        srv.fail_next(500, times=2)
        with EuropePMCClient(srv.europepmc_url, page_size=25, sleep=lambda s: None) as c:
            assert len(c.search("cancer").records) == 25
            srv.fail_next(200, body='{"hitCount": "many"}')
            with pytest.raises(SourceFormatError, match="hitCount"):
                c.search("cancer")


# --------------------------------------------------------------------------- ClinicalTrials.gov


def _study(nct: str, *, results: bool = False) -> dict[str, Any]:
    """A minimal v2 study in the API's field layout (SYNTHETIC: no real response at hand)."""
    study: dict[str, Any] = {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": f"Synthetic study {nct}"},
            "statusModule": {
                "overallStatus": "COMPLETED",
                "startDateStruct": {"date": "2019-03", "type": "ACTUAL"},
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Synthetic Sponsor"}},
            "descriptionModule": {"briefSummary": "Synthetic summary."},
        },
        "hasResults": results,
    }
    if results:
        study["resultsSection"] = {
            "adverseEventsModule": {
                "frequencyThreshold": "5",
                "eventGroups": [
                    {"id": "EG000", "title": "Arm A"},
                    {"id": "EG001", "title": "Placebo"},
                ],
                "seriousEvents": [
                    {
                        "term": "Pneumonia",
                        "organSystem": "Infections",
                        "stats": [
                            {"groupId": "EG000", "numAffected": 2, "numAtRisk": 50},
                            {"groupId": "EG001", "numAffected": 1, "numAtRisk": 49},
                        ],
                    }
                ],
                "otherEvents": [
                    {
                        "term": "Headache",
                        "organSystem": "Nervous system",
                        "stats": [{"groupId": "EG000", "numAffected": 7, "numAtRisk": 50}],
                    }
                ],
            }
        }
    return study


def test_ctgov_page_token_paging_detail_and_adverse_events() -> None:
    studies = [_study(f"NCT{n:08d}", results=(n == 3)) for n in range(1, 6)]
    with (
        LiteratureReplayServer(ctgov=studies) as srv,
        ClinicalTrialsClient(srv.ctgov_url, page_size=2, sleep=lambda s: None) as c,
    ):
        res = c.search("aspirin")
        detail, prov = c.study("nct00000003")
        with pytest.raises(LiteratureSourceError, match="404"):
            c.study("NCT00000099")
        with pytest.raises(ValueError, match="invalid NCT id"):
            c.study("12345")
    assert res.total == 5
    assert [r.nct_id for r in res.records] == [f"NCT{n:08d}" for n in range(1, 6)]
    assert res.records[0].year == 2019 and res.records[0].authors == ("Synthetic Sponsor",)
    tokens = [r.params.get("pageToken") for r in srv.requests_to("/studies")]
    assert tokens == [None, "tok2", "tok4"]
    rows = adverse_events(detail)
    assert [(r.term, r.group_title, r.serious, r.num_affected, r.num_at_risk) for r in rows] == [
        ("Pneumonia", "Arm A", True, 2, 50),
        ("Pneumonia", "Placebo", True, 1, 49),
        ("Headache", "Arm A", False, 7, 50),
    ]
    assert prov.location.endswith("/studies/NCT00000003?format=json")
    assert adverse_events(studies[0]) == []


def test_ctgov_malformed_is_clear() -> None:
    with LiteratureReplayServer(ctgov=[_study("NCT00000001")]) as srv:
        srv.fail_next(200, body=json.dumps({"studies": [{"protocolSection": {}}], "totalCount": 1}))
        with (
            ClinicalTrialsClient(srv.ctgov_url, sleep=lambda s: None) as c,
            pytest.raises(SourceFormatError, match="nctId"),
        ):
            c.search("x")


def test_rate_limiter_spacing() -> None:
    fake = FakeClock()
    limiter = RateLimiter(10, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.acquire()
    fake.now += 5
    limiter.acquire()
    assert fake.slept == pytest.approx([0.1, 0.1])


def test_pubmed_short_batch_names_the_missing_records() -> None:
    # esearch counts 6 but only 4 articles come back (e.g. 2 withdrawn meanwhile)
    with (
        LiteratureReplayServer(pubmed=real_pubmed_articles(), count_override=6) as srv,
        PubMedClient(srv.ncbi_url, batch_size=3, sleep=lambda s: None) as c,
    ):
        res = c.search("x")
    assert res.total == 6 and len(res.records) == 4
    assert res.messages == [
        "efetch returned 1 of 3 record(s) at retstart=3; the others are not available "
        "(withdrawn or removed from PubMed)"
    ]


def test_network_error_is_retried_then_clear() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    slept: list[float] = []
    with (
        EuropePMCClient(
            f"http://127.0.0.1:{port}/rest", max_retries=3, sleep=slept.append, timeout=2
        ) as c,
        pytest.raises(LiteratureSourceError, match="network error: ConnectError") as info,
    ):
        c.search("x")
    assert "gave up after 3 attempts" in str(info.value)
    assert len([s for s in slept if s >= 1.0]) == 2  # two backoffs between three attempts
