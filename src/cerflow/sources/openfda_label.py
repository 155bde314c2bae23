"""openFDA drug labels (`/drug/label.json`): the labels that name a drug.

    search = label_search("atorvastatin")            # generic, brand or substance name
    page = fetch_labels(client, search, limit=100)   # newest effective date first

Same client discipline as the adverse-event endpoints (`cerflow.sources.openfda`: rate
limit, retries with backoff, API key redacted from every kept URL, 404 NOT_FOUND = no
label). A drug has many labels (the originator's, generics', repackagers'); which one a
report uses is the ingest's rule (`cerflow.ingest.labels`), not the source's.
"""

from __future__ import annotations

from cerflow.sources.openfda import OpenFDAClient, Page, _phrase, drug_search

DRUG_LABEL = "/drug/label.json"
LABEL_NAME_FIELDS = (
    "openfda.generic_name",
    "openfda.brand_name",
    "openfda.substance_name",
)
MAX_LABELS = 100  # labels fetched per query (newest first); one page


def label_search(drug: str) -> str:
    """Labels whose harmonized generic, brand or substance name holds `drug` as a phrase."""
    return drug_search(drug, LABEL_NAME_FIELDS)


def set_id_search(set_id: str) -> str:
    """The label with this FDA set id."""
    return f"set_id:{_phrase(set_id)}"


def fetch_labels(client: OpenFDAClient, search: str, *, limit: int = MAX_LABELS) -> Page:
    """One page of matching labels, newest effective date first (empty for 404)."""
    return client.page(DRUG_LABEL, search, limit=limit, sort="effective_time:desc")
