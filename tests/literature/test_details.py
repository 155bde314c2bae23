"""Citation details kept at search time, from the real PubMed and Europe PMC fixtures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cerflow.literature.details import record_details
from cerflow.sources import europepmc
from cerflow.sources.pubmed import parse_article
from tests.replay.literature_server import real_europepmc_results, real_pubmed_articles


def test_pubmed_and_europepmc_details() -> None:
    by_pmid = {r.pmid: r for r in (parse_article(ET.fromstring(a)) for a in real_pubmed_articles())}
    assert record_details(by_pmid["9997"]) == {
        "journal_abbrev": "Biochim Biophys Acta",
        "volume": "446",
        "issue": "1",
        "pages": "179-91",
    }
    epmc = {r.source_id: r for r in map(europepmc.normalize, real_europepmc_results())}
    assert record_details(epmc["MED:39709209"]) == {
        "volume": "404",
        "issue": "10471",
        "pages": "2603-2604",
    }
