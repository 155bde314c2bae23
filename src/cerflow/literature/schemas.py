"""The search protocol of a product (validated before anything is stored)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cerflow.errors import CerflowError

Database = Literal["pubmed", "europepmc", "ctgov"]
DATABASES: tuple[Database, ...] = ("pubmed", "europepmc", "ctgov")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


class ProtocolError(CerflowError, ValueError):
    """A protocol that cannot be stored: names every bad field and how to fix it."""

    status_code = 422

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: invalid literature protocol: " + "; ".join(problems))


class Pico(BaseModel):
    model_config = ConfigDict(extra="forbid")

    population: str = ""
    intervention: str = ""
    comparator: str = ""
    outcomes: str = ""


class Criterion(BaseModel):
    """An inclusion or exclusion criterion; exclusion codes become screening reasons."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Short upper-case code, e.g. E1 or WRONG_POPULATION")
    text: str = Field(min_length=1)

    @model_validator(mode="after")
    def _code(self) -> Criterion:
        if not _CODE.match(self.code):
            raise ValueError(
                f"code {self.code!r}: use upper-case letters, digits and _ (e.g. E1), "
                "starting with a letter, at most 32 characters"
            )
        return self


class SearchProtocol(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Pico = Field(default_factory=Pico)
    names: list[str] = Field(default_factory=list, description="Product names and synonyms")
    databases: list[Database] = Field(default_factory=lambda: list(DATABASES))
    queries: dict[Database, str] = Field(default_factory=dict)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    inclusion: list[Criterion] = Field(default_factory=list)
    exclusion: list[Criterion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> SearchProtocol:
        if not self.databases:
            raise ValueError("databases: name at least one of pubmed, europepmc, ctgov")
        if len(set(self.databases)) != len(self.databases):
            raise ValueError("databases: a database is listed twice")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        codes = [c.code for c in [*self.inclusion, *self.exclusion]]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"criteria codes used twice: {', '.join(dupes)}")
        self.names = [n.strip() for n in self.names if n.strip()]
        for db in self.databases:
            if not (self.queries.get(db) or "").strip():
                if not self.names:
                    raise ValueError(
                        f"queries.{db}: no query and no names to generate one from; "
                        "give names (product names and synonyms) or the query itself"
                    )
                self.queries[db] = generate_query(db, self.names)
        return self


def _quote(name: str) -> str:
    return '"' + name.replace('"', " ").strip() + '"'


def generate_query(database: Database, names: list[str]) -> str:
    """A query string for `database` from the product's names and synonyms (editable later).

    PubMed searches title and abstract (`[tiab]`); Europe PMC title and abstract
    (`TITLE_ABS:`); ClinicalTrials.gov its general term search.
    """
    unique: list[str] = []
    for name in names:
        if name.strip() and name.strip().lower() not in {u.lower() for u in unique}:
            unique.append(name.strip())
    if database == "pubmed":
        parts = [f"{_quote(n)}[tiab]" for n in unique]
    elif database == "europepmc":
        parts = [f"TITLE_ABS:{_quote(n)}" for n in unique]
    else:
        parts = [_quote(n) for n in unique]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def parse_protocol(data: Any, where: str) -> SearchProtocol:
    try:
        return SearchProtocol.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "protocol"
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}")
        raise ProtocolError(where, problems) from None
