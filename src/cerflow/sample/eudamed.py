"""Synthetic EUDAMED public API device search pages (`/api/devices/udiDiData`).

One Spring page per focus product code, in the key order and with the null fields of the
real response (`Delapro_README_05`): `basicUdi`, `primaryDi`, `uuid`, `ulid`,
`riskClass.code` (`refdata.risk-class.class-iib` ...), `manufacturerSrn`,
`deviceStatusType.code`. EUDAMED does not know FDA product codes, so the manifest maps each
page to its code. Trade and manufacturer names carry "SYNTHETIC" and the SRNs use the
`XX-MF-` pattern with a country code no Member State has (`XS`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cerflow.sample._util import section_rng

# (product code, trade name, model, risk class suffix, basic UDI-DI, manufacturer, SRN)
DEVICES: dict[str, tuple[tuple[str, str, str, str, str, str], ...]] = {
    "DQA": (
        (
            "SYNTHOX SX-100 pulse oximeter [SYNTHETIC]",
            "SX-100",
            "class-iib",
            "0999901SX100AB",
            "Synthetic Medical Devices Inc.",
            "XS-MF-000099001",
        ),
        (
            "SYNTHOX SX-200 pulse oximeter [SYNTHETIC]",
            "SX-200",
            "class-iib",
            "0999901SX100AB",
            "Synthetic Medical Devices Inc.",
            "XS-MF-000099001",
        ),
        (
            "SYNTHOX Home fingertip oximeter [SYNTHETIC]",
            "SX-H1",
            "class-iia",
            "0999901SXH1CD",
            "Synthetic Medical Devices Inc.",
            "XS-MF-000099001",
        ),
    ),
    "LZG": (
        (
            "SYNTHPUMP IP-7 insulin pump [SYNTHETIC]",
            "IP-7",
            "class-iib",
            "0999902IP7XY",
            "Synthetic Infusion Systems LLC",
            "XS-MF-000099002",
        ),
        (
            "SYNTHPUMP IP-7 reservoir set [SYNTHETIC]",
            "IP-7-RS",
            "class-iib",
            "0999902IP7XY",
            "Synthetic Infusion Systems LLC",
            "XS-MF-000099002",
        ),
    ),
}


def _gtin(prefix: int, item: int) -> str:
    body = f"0{prefix:07d}{item:05d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _ulid(rng_value: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    out = []
    for _ in range(26):
        rng_value, digit = divmod(rng_value, 32)
        out.append(alphabet[digit])
    return "01" + "".join(out[2:])


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "content": items,
        "totalPages": 1,
        "totalElements": len(items),
        "last": True,
        "size": 25,
        "number": 0,
        "sort": None,
        "first": True,
        "numberOfElements": len(items),
    }


def generate_eudamed(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write one search page per focus product code under `out_dir/eudamed`."""
    rng = section_rng(seed, "eudamed")
    folder = out_dir / "eudamed"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n, (code, devices) in enumerate(DEVICES.items()):
        items = []
        for i, (trade, model, klass, basic, mfr, srn) in enumerate(devices):
            items.append(
                {
                    "basicUdi": basic,
                    "primaryDi": _gtin(9999000 + n, 100 + i),
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "ulid": _ulid(rng.getrandbits(130)),
                    "basicUdiDiDataUlid": _ulid(rng.getrandbits(130)),
                    "riskClass": {"code": f"refdata.risk-class.{klass}"},
                    "tradeName": trade,
                    "manufacturerName": mfr,
                    "manufacturerSrn": srn,
                    "deviceStatusType": {"code": "refdata.device-model-status.on-the-market"},
                    "manufacturerNames": None,
                    "latestVersion": True,
                    "versionNumber": 1,
                    "basicUdiDataUuid": None,
                    "basicUdiDataUlid": None,
                    "basicUdiDataVersionState": None,
                    "versionState": None,
                    "deviceName": None,
                    "deviceModel": model,
                    "lastUpdateDate": None,
                    "reference": model,
                    "basicUdiDataVersionNumber": 0,
                    "issuingAgency": None,
                    "containerPackageCount": 0,
                    "mfOrPrSrn": None,
                    "applicableLegislation": None,
                    "sterile": None,
                    "multiComponent": None,
                    "deviceCriterion": None,
                }
            )
        name = f"devices_udiDiData_{code}.json"
        text = json.dumps(_page(items), indent=2, ensure_ascii=False) + "\n"
        (folder / name).write_bytes(text.encode("utf-8"))
        files.append(
            {
                "path": f"eudamed/{name}",
                "endpoint": "/api/devices/udiDiData",
                "product_code": code,
                "records": len(items),
            }
        )
    return {
        "files": files,
        "attribution": (
            "Shape follows the EUDAMED public API; content is synthetic, not from EUDAMED."
        ),
    }
