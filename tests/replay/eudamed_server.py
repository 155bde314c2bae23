"""A local EUDAMED: the public website API and the data-lake API, replayed from real records.

The public API is served from the real responses in `shared/data/real/eudamed/` (device
search by SRN and by primaryDi, a device detail, an `/eos` page, an actor's public
information). To make several pages, extra devices are derived from the real ones with new
uuids, DIs and trade names (`variants`), and a few are moved to a second manufacturer SRN.

Behaviour replayed, because the clients must cope with it:
* Spring paging: `page` (0-based), `pageSize` clamped to 300 like Spring's max page size,
  `content`/`totalElements`/`totalPages`/`number`/`last`/`first`/`size`/`sort`.
* Unknown or mistyped filters are silently ignored (HTTP 200, unfiltered). `ignored_filters`
  makes the server ignore a filter it normally honours, as EUDAMED has done.
* Data lake: mandatory `format=json` + `api-version=v1.0`; unknown parameters -> HTTP 400
  `{"error": {...}}`; `{"value": [...], "nextLink": ...}` with an opaque `$after` cursor;
  optional `Ocp-Apim-Subscription-Key` check (401 as Azure API Management words it).
  Data-lake records are real devices re-spelled in the data lake's documented field names.
* Faults on demand: `fail_next(prefix, status, headers=..., times=...)`; status 0 drops
  the connection without an answer (a network error).
Every request is recorded (`requests`).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

PUBLIC_PREFIX = "/tools/eudamed/api"
DATALAKE_PREFIX = "/eudamed"
MAX_PAGE_SIZE = 300
SECOND_SRN = "AT-MF-000000999"
SECOND_MANUFACTURER = "Amann Girrbach Variant GmbH"

FILES = {
    "eos": "Delapro_README_03_eos_search_DE.json",
    "actor": "Delapro_README_04_actors_publicInformation.json",
    "by_srn": "Delapro_README_05_devices_udiDiData_search_by_srn.json",
    "detail": "Delapro_README_06_devices_udiDiData_detail.json",
    "by_di": "Delapro_README_07_devices_udiDiData_search_by_primaryDi.json",
}
# Data-lake RISK_CLASS_ID / DEVICE_STATUS_TYPE_ID numeric codes (field guide, /reference).
RISK_IDS = {
    "refdata.risk-class.class-i": -203.0,
    "refdata.risk-class.class-iia": -204.0,
    "refdata.risk-class.class-iib": -205.0,
    "refdata.risk-class.class-iii": -10.0,
}
STATUS_IDS = {"refdata.device-model-status.on-the-market": -11.0}
DATALAKE_UDI_FIELDS = [
    "ACTIVE",
    "ACTOR_ABBREVIATED_NAMES",
    "ADMINISTERING_MEDICINE",
    "ANIMAL_TISSUES",
    "APPLICABLE_LEGISLATION_ID",
    "AR_ACTOR_NAMES",
    "AR_NAME",
    "AR_SRN",
    "BASIC_UDI",
    "BASIC_UDI_DATA_ULID",
    "BASIC_UDI_DATA_UUID",
    "CMR_SUBSTANCE",
    "COMPANION_DIAGNOSTICS",
    "CONTAINER_PACKAGE_DIS",
    "DEVICE_CRITERION",
    "DEVICE_MODEL",
    "DEVICE_NAME",
    "DEVICE_STATUS_TYPE_ID",
    "DIRECT_MARKETING_DI",
    "ENDOCRINE_DISRUPTOR",
    "HUMAN_PRODUCT",
    "HUMAN_TISSUES",
    "ID",
    "IMPLANTABLE",
    "INSTRUMENT",
    "KIT",
    "LATEST_VERSION",
    "LATEX",
    "MEASURING_FUNCTION",
    "MEDICAL_PURPOSE",
    "MEDICINAL_PRODUCT",
    "MF_ACTOR_NAMES",
    "MF_NAME",
    "MF_SRN",
    "MICROBIAL_SUBSTANCES",
    "MULTI_COMPONENT_ID",
    "NEAR_PATIENT_TESTING",
    "NEW_DEVICE",
    "NOMENCLATURE_CODE",
    "PLACED_ON_THE_MARKET_ID",
    "PRIMARY_DI",
    "PROFESSIONAL_TESTING",
    "REAGENT",
    "REFERENCE",
    "REPROCESSED",
    "REUSABLE",
    "RISK_CLASS_ID",
    "SECONDARY_DI",
    "SELF_TESTING",
    "SPECIAL_DEVICE_TYPE_ID",
    "STATUS_ID",
    "STERILE",
    "STERILIZATION",
    "SUBSTATUSES",
    "SUTURES",
    "TRADE_NAME",
    "UDI_DI_DATA_ULID",
    "UNIT_OF_USE_DI",
    "UUID",
    "VERSION_NUMBER",
]
DATALAKE_UDI_FILTERS = frozenset(
    {
        "PRIMARY_DI",
        "BASIC_UDI",
        "MF_SRN",
        "TRADE_NAME",
        "DEVICE_NAME",
        "NOMENCLATURE_CODE",
        "REFERENCE",
        "RISK_CLASS_ID",
        "APPLICABLE_LEGISLATION_ID",
    }
)
DATALAKE_ACTOR_FILTERS = frozenset({"ACTOR_ID", "NAME", "ACTOR_TYPE", "COUNTRY_ISO2_CODE"})


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]


@dataclass
class _Fault:
    prefix: str
    status: int
    headers: dict[str, str]
    remaining: int


def _load(data_dir: Path, name: str) -> Any:
    return json.loads((data_dir / FILES[name]).read_text(encoding="utf-8"))


def _variant_uuid(base: str, n: int) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"cerflow-replay:{base}:{n}"))


@dataclass
class EudamedData:
    """The replayed database, built deterministically from the real responses."""

    devices: list[dict[str, Any]]
    details: dict[str, dict[str, Any]]
    actors: list[dict[str, Any]]
    actor_info: dict[str, dict[str, Any]]
    datalake_udi: list[dict[str, Any]]
    datalake_actors: list[dict[str, Any]]

    @classmethod
    def build(cls, data_dir: Path, *, variants: int = 40, second_srn: int = 5) -> EudamedData:
        by_srn = _load(data_dir, "by_srn")["content"]
        by_di = _load(data_dir, "by_di")["content"]
        real = [*by_srn, *by_di]
        devices = copy.deepcopy(real)
        for n in range(variants):
            base = real[n % len(real)]
            item = copy.deepcopy(base)
            item["uuid"] = _variant_uuid(base["uuid"], n)
            item["ulid"] = base["ulid"][:-4] + f"{n:04d}"
            item["primaryDi"] = f"E494{8000000 + n:07d}1"
            item["tradeName"] = f"{base['tradeName'].strip()} (Variante {n})"
            if n < second_srn:
                item["manufacturerSrn"] = SECOND_SRN
                item["manufacturerName"] = SECOND_MANUFACTURER
            devices.append(item)
        devices.sort(key=lambda d: d["primaryDi"])

        template = _load(data_dir, "detail")
        details: dict[str, dict[str, Any]] = {template["uuid"]: template}
        for item in devices:
            if item["uuid"] in details:
                continue
            detail = copy.deepcopy(template)
            detail["uuid"] = item["uuid"]
            detail["ulid"] = item["ulid"]
            detail["primaryDi"]["code"] = item["primaryDi"]
            detail["tradeName"] = {
                "texts": [
                    {"language": None, "text": item["tradeName"], "allLanguagesApplicable": True}
                ]
            }
            detail["reference"] = item["primaryDi"][4:-1]
            details[item["uuid"]] = detail

        actors = _load(data_dir, "eos")["content"]
        info = _load(data_dir, "actor")
        actor_info = {info["actorDataPublicView"]["uuid"]: info}

        datalake_udi = [_as_datalake_udi(d, details.get(d["uuid"])) for d in devices]
        datalake_actors = [_as_datalake_actor(a) for a in actors]
        return cls(devices, details, actors, actor_info, datalake_udi, datalake_actors)


def _as_datalake_udi(item: dict[str, Any], detail: dict[str, Any] | None) -> dict[str, Any]:
    """A public search item re-spelled in the data lake's 60 field names (floats for numbers,
    negative IDs for enumerations, multilingual names as JSON in a string)."""
    record: dict[str, Any] = dict.fromkeys(DATALAKE_UDI_FIELDS)
    name = item.get("manufacturerName")
    record.update(
        {
            "UUID": item["uuid"],
            "UDI_DI_DATA_ULID": item.get("ulid"),
            "PRIMARY_DI": item["primaryDi"],
            "BASIC_UDI": item.get("basicUdi"),
            "BASIC_UDI_DATA_ULID": item.get("basicUdiDiDataUlid"),
            "TRADE_NAME": item.get("tradeName"),
            "REFERENCE": detail.get("reference") if detail else None,
            "RISK_CLASS_ID": RISK_IDS.get((item.get("riskClass") or {}).get("code", "")),
            "DEVICE_STATUS_TYPE_ID": STATUS_IDS.get(
                (item.get("deviceStatusType") or {}).get("code", "")
            ),
            "MF_SRN": item.get("manufacturerSrn"),
            "MF_NAME": None,
            "MF_ACTOR_NAMES": json.dumps(
                {
                    "texts": [
                        {
                            "language": {"isoCode": "de", "name": "German"},
                            "text": name,
                            "allLanguagesApplicable": None,
                        }
                    ]
                }
            )
            if name
            else None,
            "APPLICABLE_LEGISLATION_ID": -197.0,
            "LATEST_VERSION": 1.0 if item.get("latestVersion") else 0.0,
            "VERSION_NUMBER": float(item.get("versionNumber") or 0),
            "STERILE": 0.0,
            "LATEX": 0.0,
        }
    )
    return record


def _as_datalake_actor(actor: dict[str, Any]) -> dict[str, Any]:
    return {
        "ACTOR_ID": actor.get("srn"),
        "NAME": actor.get("name"),
        "ABBREVIATED_NAME": actor.get("abbreviatedName"),
        "ACTOR_TYPE": "Authorised Representative",
        "ACT_COUNTRY_ISO2_CODE": actor.get("countryIso2Code"),
        "ACT_COUNTRY_NAME": actor.get("countryName"),
        "ACT_EMAIL": actor.get("electronicMail"),
        "ACT_TELEPHONE": actor.get("telephone"),
        "ACT_ADDR_CITY_NAME": actor.get("cityName"),
        "ACT_ADDR_POSTAL_ZONE": actor.get("postalZone"),
        "STATUS": "Active",
        "VERSION": float(actor.get("versionNumber") or 0),
    }


class EudamedReplay:
    """Threaded server on 127.0.0.1 (random port) speaking both EUDAMED APIs."""

    def __init__(
        self,
        data_dir: Path,
        *,
        variants: int = 40,
        datalake_page_size: int = 1000,
        api_key: str | None = None,
    ) -> None:
        self.data = EudamedData.build(data_dir, variants=variants)
        self.datalake_page_size = datalake_page_size
        self.api_key = api_key
        self.ignored_filters: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                replay._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.origin + PUBLIC_PREFIX

    @property
    def datalake_url(self) -> str:
        return self.origin + DATALAKE_PREFIX

    def start(self) -> EudamedReplay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EudamedReplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ------------------------------------------------------------------

    def fail_next(
        self, prefix: str, status: int, *, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """The next `times` requests whose path (after the API prefix) starts with `prefix`
        get `status` (0 = connection dropped without an answer)."""
        with self._lock:
            self._faults.append(_Fault(prefix, status, headers or {}, times))

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- dispatch -----------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.prefix):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    split.path, query, split.query, {k: v for k, v in h.headers.items()}
                )
            )
        path = split.path
        rel = (
            path.removeprefix(PUBLIC_PREFIX)
            if path.startswith(PUBLIC_PREFIX)
            else path.removeprefix(DATALAKE_PREFIX)
        )
        fault = self._take_fault(rel)
        if fault is not None:
            if fault.status == 0:
                h.close_connection = True
                h.connection.shutdown(2)
                return
            self._send(
                h, fault.status, {"status": fault.status, "error": "injected"}, fault.headers
            )
            return
        if path.startswith(PUBLIC_PREFIX + "/"):
            status, body = self._public(rel, query)
        elif path.startswith(DATALAKE_PREFIX + "/"):
            status, body = self._datalake(rel, query, h)
        else:
            status, body = 404, {"status": 404, "error": "Not Found", "path": path}
        self._send(h, status, body, {})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    # -- public website API -------------------------------------------------------------

    def _public(self, rel: str, q: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in rel.split("/") if p]
        if parts == ["devices", "udiDiData"]:
            return 200, self._page(self._filter_devices(q), q, "primaryDi")
        if len(parts) == 3 and parts[:2] == ["devices", "udiDiData"]:
            detail = self.data.details.get(parts[2])
            return (200, detail) if detail else self._not_found(rel)
        if parts == ["eos"]:
            return 200, self._page(self._filter_actors(q), q, "srn")
        if len(parts) == 3 and parts[0] == "actors" and parts[2] == "publicInformation":
            info = self.data.actor_info.get(parts[1])
            return (200, info) if info else self._not_found(rel)
        return self._not_found(rel)

    @staticmethod
    def _not_found(rel: str) -> tuple[int, Any]:
        return 404, {"status": 404, "error": "Not Found", "path": PUBLIC_PREFIX + rel}

    def _honours(self, q: dict[str, str], name: str) -> str | None:
        if name in self.ignored_filters:
            return None
        return q.get(name) or None

    def _filter_devices(self, q: dict[str, str]) -> list[dict[str, Any]]:
        out = self.data.devices
        if di := self._honours(q, "primaryDi"):
            out = [d for d in out if d["primaryDi"] == di]
        if basic := self._honours(q, "basicUdi"):
            out = [d for d in out if d["basicUdi"] == basic]
        if srn := self._honours(q, "srn"):
            out = [d for d in out if d["manufacturerSrn"] == srn]
        if name := self._honours(q, "tradeName"):
            out = [d for d in out if name.casefold() in (d["tradeName"] or "").casefold()]
        return out  # every other parameter is silently ignored, like the real API

    def _filter_actors(self, q: dict[str, str]) -> list[dict[str, Any]]:
        out = self.data.actors
        if srn := self._honours(q, "srn"):
            out = [a for a in out if a["srn"] == srn]
        if name := self._honours(q, "name"):
            out = [a for a in out if name.casefold() in a["name"].casefold()]
        if country := self._honours(q, "countryIso2Code"):
            out = [a for a in out if a["countryIso2Code"] == country]
        return out

    @staticmethod
    def _page(items: list[dict[str, Any]], q: dict[str, str], sort: str) -> dict[str, Any]:
        page = int(q.get("page", "0"))
        size = min(int(q.get("pageSize", "20")), MAX_PAGE_SIZE)
        total = len(items)
        total_pages = (total + size - 1) // size
        content = items[page * size : (page + 1) * size]
        return {
            "content": content,
            "totalPages": total_pages,
            "totalElements": total,
            "last": page >= total_pages - 1,
            "size": size,
            "number": page,
            "sort": [
                {
                    "direction": "ASC",
                    "property": sort,
                    "ignoreCase": False,
                    "nullHandling": "NATIVE",
                    "ascending": True,
                    "descending": False,
                }
            ],
            "first": page == 0,
            "numberOfElements": len(content),
        }

    # -- data lake ----------------------------------------------------------------------

    @staticmethod
    def _bad(message: str) -> tuple[int, Any]:
        return 400, {"error": {"code": "BadRequest", "message": message, "status": 400}}

    def _datalake(self, rel: str, q: dict[str, str], h: BaseHTTPRequestHandler) -> tuple[int, Any]:
        if self.api_key is not None and h.headers.get("Ocp-Apim-Subscription-Key") != self.api_key:
            return 401, {
                "statusCode": 401,
                "message": "Access denied due to invalid subscription key. Make sure to "
                "provide a valid key for an active subscription.",
            }
        if rel == "/udi":
            records, allowed = self.data.datalake_udi, DATALAKE_UDI_FILTERS
        elif rel == "/actors":
            records, allowed = self.data.datalake_actors, DATALAKE_ACTOR_FILTERS
        else:
            return 404, {
                "error": {"code": "NotFound", "message": "Resource not found", "status": 404}
            }
        if q.get("format") not in {"json", "csv"}:
            return self._bad("Missing or invalid Query Parameter: format")
        if q.get("api-version") != "v1.0":
            return self._bad("Missing or invalid Query Parameter: api-version")
        filters = {k: v for k, v in q.items() if k not in {"format", "api-version", "$after"}}
        for key in filters:
            if key not in allowed:
                return self._bad(f"Invalid Query Parameter: {key}")
        out = [r for r in records if all(str(r.get(k)) == v for k, v in filters.items())]
        offset = 0
        if "$after" in q:
            try:
                offset = json.loads(base64.urlsafe_b64decode(q["$after"].encode()))["o"]
            except (ValueError, KeyError):
                return self._bad("Invalid cursor")
        page = out[offset : offset + self.datalake_page_size]
        body: dict[str, Any] = {"value": page}
        end = offset + len(page)
        if end < len(out):
            token = base64.urlsafe_b64encode(json.dumps({"o": end}).encode()).decode()
            body["nextLink"] = f"{self.datalake_url}{rel}?" + urlencode(
                {"format": q["format"], "api-version": "v1.0", **filters, "$after": token}
            )
        return 200, body
