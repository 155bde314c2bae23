"""Deduplication across databases: planted duplicates, counts per rule by hand."""

from __future__ import annotations

from pathlib import Path

from cerflow.literature.dedup import deduplicate, norm_doi, norm_pmcid, norm_title
from cerflow.sources.europepmc import normalize as epmc_normalize
from cerflow.sources.europepmc import parse_page
from cerflow.sources.literature_base import LiteratureRecord
from cerflow.sources.pubmed import parse_efetch

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "literature"


def rec(db: str, sid: str, title: str = "T", **kw: object) -> LiteratureRecord:
    return LiteratureRecord(database=db, source_id=sid, title=title, **kw)  # type: ignore[arg-type]


def test_normalizers() -> None:
    assert (
        norm_doi("https://doi.org/10.1016/S0140-6736(24)02600-X") == "10.1016/s0140-6736(24)02600-x"
    )
    assert norm_doi("doi: 10.1/ABC") == "10.1/abc"
    assert norm_doi("not a doi") is None
    assert norm_pmcid("pmc123") == "PMC123" and norm_pmcid("123") == "PMC123"
    assert norm_pmcid("PMCX") is None
    assert norm_title("  Café-au-lait spots: a Review! ") == "cafe au lait spots a review"


def test_each_rule_counted_once_and_kept_record_first() -> None:
    records = [
        rec("pubmed", "1", "Stent thrombosis after PCI", pmid="111", doi="10.1/a", year=2020),
        rec("europepmc", "MED:111", "Stent thrombosis after PCI.", pmid="0111", year=2020),  # pmid
        rec("pubmed", "2", "Other", pmid="222", pmcid="PMC9", year=2019),
        rec("europepmc", "PMC:PMC9", "Other (PMC copy)", pmcid="pmc9", year=2019),  # pmcid
        rec("europepmc", "PPR:1", "A preprint", doi="https://doi.org/10.1/A", year=2020),  # doi
        rec("ctgov", "NCT00000001", "Trial of X", nct_id="NCT00000001", year=2018),
        rec("europepmc", "MED:333", "Trial of X!", pmid="333", year=2018),  # title+year
        rec("europepmc", "MED:444", "Trial of X", pmid="444", year=2017),  # other year: kept
        rec("europepmc", "MED:555", "Trial of X", pmid="555"),  # no year: never on title
    ]
    result = deduplicate(records)
    assert result.identified == 9
    assert result.removed_by_rule == {"pmid": 1, "pmcid": 1, "doi": 1, "title_year": 1}
    assert result.removed == 4
    assert [r.source_id for r in result.unique] == [
        "1",
        "2",
        "NCT00000001",
        "MED:444",
        "MED:555",
    ]
    assert result.groups[0] == [0, 1, 4]
    # the kept record gets the identifiers it lacked from its duplicates
    trial = result.unique[2]
    assert trial.nct_id == "NCT00000001" and trial.pmid == "333"


def test_transitive_chain_counts_each_duplicate_under_its_rule() -> None:
    # A-B share a PMID, B-C share a DOI, C-D share title+year: one study, 3 duplicates.
    records = [
        rec("pubmed", "A", "Alpha", pmid="1", year=2001),
        rec("europepmc", "B", "Beta", pmid="1", doi="10.9/x", year=2001),
        rec("europepmc", "C", "Gamma", doi="10.9/X", year=2002),
        rec("ctgov", "D", "gamma", year=2002),
    ]
    result = deduplicate(records)
    assert len(result.unique) == 1
    assert result.removed_by_rule == {"pmid": 1, "pmcid": 0, "doi": 1, "title_year": 1}


def test_real_pubmed_and_europepmc_records_with_planted_duplicates() -> None:
    pubmed = parse_efetch((FIX / "pubmed2.xml").read_bytes())  # PMIDs 11748933, 11700088
    epmc = [
        epmc_normalize(x)
        for x in parse_page((FIX / "europepmc_search_cancer.json").read_bytes())["results"]
    ]
    # Plant: Europe PMC's view of PubMed's first article (same PMID), and a record of the
    # second known only by its DOI with a different case.
    planted = [
        rec("europepmc", "MED:11748933", pubmed[0].title, pmid="11748933", year=2001),
        rec("europepmc", "X:1", "x", doi="10.1006/JMRE.2001.2429", year=2001),
    ]
    result = deduplicate([*pubmed, *epmc, *planted])
    assert result.identified == 2 + 25 + 2
    assert result.removed_by_rule["pmid"] == 1
    assert result.removed_by_rule["doi"] == 1
    # the 25 real Europe PMC records are distinct among themselves
    assert len(result.unique) == 27


def test_empty() -> None:
    result = deduplicate([])
    assert result.unique == [] and result.removed == 0
