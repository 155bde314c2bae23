"""Archive and line limits: zip bombs stop at the configured bound, with a clear error.

Each bomb is built in tmp (tens of MB of zeros deflate to tens of KB) and read with small
limits, so the tests are fast; tracemalloc shows memory stays near the limit, not the bomb.
"""

from __future__ import annotations

import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cerflow.config import Settings, get_settings
from cerflow.etl.faers_columnar import read_faers_frames
from cerflow.sources.base import SourceFormatError
from cerflow.sources.faers_ascii import FaersQuarter
from cerflow.sources.limits import ReadLimits, SourceLimitError, open_member
from cerflow.sources.maude_bulk import MaudeBulkReader
from tests.sources.test_faers_ascii import DEMO_H, DRUG_H, REAC_H, make_zip

BOMB = 48 << 20  # 48 MiB inflated, ~50 KB on disk
LIMITS = ReadLimits(max_member_bytes=8 << 20, max_members=16, max_line_bytes=64 << 10)


def _zeros(total: int) -> Iterator[bytes]:
    block = b"0" * (1 << 20)
    for _ in range(total // len(block)):
        yield block


def _write_bomb(path: Path, members: dict[str, tuple[bytes, Iterator[bytes]]]) -> Path:
    """Members written as (head, streamed tail) so the test never holds the bomb in memory."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (head, tail) in members.items():
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(head)
                for block in tail:
                    fh.write(block)
    return path


def _faers_bomb(path: Path, *, header: bool, size: int = BOMB) -> Path:
    demo_head = (DEMO_H + "\n").encode() if header else b""
    return _write_bomb(
        path,
        {
            "ascii/DEMO17Q2.txt": (demo_head, _zeros(size)),
            "ascii/DRUG17Q2.txt": ((DRUG_H + "\n").encode(), iter(())),
            "ascii/REAC17Q2.txt": ((REAC_H + "\n").encode(), iter(())),
        },
    )


def _peak(fn: Callable[[], Any]) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        fn()
    except SourceFormatError as exc:
        error: BaseException = exc
    else:
        raise AssertionError("no error raised")
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


def _assert_names(error: BaseException, *, member: str, setting: str) -> None:
    assert isinstance(error, SourceLimitError)
    message = str(error)
    assert member in message
    assert f"CERFLOW_{setting.upper()}" in message
    assert "limit" in message


@pytest.mark.parametrize("header", [False, True], ids=["no-newline-at-all", "after-header"])
def test_faers_line_bomb_stops_at_the_line_limit(tmp_path: Path, header: bool) -> None:
    path = _faers_bomb(tmp_path / "bomb.zip", header=header, size=BOMB)
    big = ReadLimits(max_member_bytes=1 << 30, max_members=16, max_line_bytes=64 << 10)

    def read() -> None:
        with FaersQuarter(path, limits=big) as quarter:
            next(iter(quarter.records()))

    error, peak = _peak(read)
    _assert_names(error, member="DEMO17Q2.txt", setting="source_max_line_bytes")
    assert peak < 24 << 20  # the 48 MiB member was never held whole


def test_faers_columnar_path_stops_at_the_line_limit(tmp_path: Path) -> None:
    path = _faers_bomb(tmp_path / "bomb.zip", header=True, size=4 << 20)
    with pytest.raises(SourceLimitError) as info:
        read_faers_frames(path, limits=LIMITS)
    _assert_names(info.value, member="DEMO17Q2.txt", setting="source_max_line_bytes")


def test_faers_member_over_the_size_limit_is_refused_before_inflating(tmp_path: Path) -> None:
    path = _faers_bomb(tmp_path / "bomb.zip", header=True, size=BOMB)
    error, peak = _peak(lambda: FaersQuarter(path, limits=LIMITS))
    _assert_names(error, member="DEMO17Q2.txt", setting="source_max_member_bytes")
    assert peak < 4 << 20


def test_member_stream_stops_at_the_size_limit_even_if_the_directory_lies(tmp_path: Path) -> None:
    # Declared sizes are checked up front; the stream counts real bytes as a second line.
    path = _faers_bomb(tmp_path / "bomb.zip", header=True, size=4 << 20)
    small = ReadLimits(max_member_bytes=1 << 20, max_members=16, max_line_bytes=64 << 10)
    with (
        zipfile.ZipFile(path) as zf,
        pytest.raises(SourceLimitError) as info,
        open_member(zf, "ascii/DEMO17Q2.txt", str(path), small) as fh,
    ):
        while fh.read(1 << 16):
            pass
    _assert_names(info.value, member="DEMO17Q2.txt", setting="source_max_member_bytes")


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "q.zip", {"demo": [], "drug": [], "reac": []})
    with zipfile.ZipFile(path, "a") as zf:
        for i in range(20):
            zf.writestr(f"extra/{i}.pdf", b"x")
    with pytest.raises(SourceLimitError) as info:
        FaersQuarter(path, limits=LIMITS)
    _assert_names(info.value, member="q.zip", setting="source_max_members")


def test_faers_rows_of_endless_embedded_newlines_are_refused(tmp_path: Path) -> None:
    # Lines without `$` are "continuations" of a short row: they must not pile up forever.
    lines: list[str | bytes] = ["1$1$1"] + ["xxxx"] * 20_000
    path = make_zip(tmp_path / "q.zip", {"demo": lines, "drug": [], "reac": []})
    with FaersQuarter(path, limits=LIMITS) as quarter, pytest.raises(SourceLimitError) as info:
        quarter.scan()
    _assert_names(info.value, member="DEMO17Q2.txt", setting="source_max_line_bytes")


def test_maude_zip_line_bomb_stops_at_the_line_limit(tmp_path: Path) -> None:
    path = _write_bomb(
        tmp_path / "mdrfoi.zip",
        {"mdrfoi.txt": (b"MDR_REPORT_KEY|EVENT_TYPE\n", _zeros(BOMB))},
    )
    big = ReadLimits(max_member_bytes=1 << 30, max_members=16, max_line_bytes=64 << 10)
    error, peak = _peak(lambda: next(iter(MaudeBulkReader([path], tmp_dir=tmp_path, limits=big))))
    _assert_names(error, member="mdrfoi.txt", setting="source_max_line_bytes")
    assert peak < 24 << 20


def test_maude_member_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = _write_bomb(
        tmp_path / "foitext.zip",
        {"foitext.txt": (b"MDR_REPORT_KEY|TEXT\n", _zeros(BOMB))},
    )
    with pytest.raises(SourceLimitError) as info:
        MaudeBulkReader([path], limits=LIMITS)
    _assert_names(info.value, member="foitext.txt", setting="source_max_member_bytes")


def test_maude_narrative_of_endless_continuation_lines_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "maude"
    folder.mkdir()
    body = "MDR_REPORT_KEY|MDR_TEXT_KEY|TEXT\n1|1|start\n" + "more text\n" * 20_000
    (folder / "foitext.txt").write_text(body)
    with pytest.raises(SourceLimitError) as info:
        list(MaudeBulkReader([folder], tmp_dir=tmp_path, limits=LIMITS))
    _assert_names(info.value, member="foitext.txt", setting="source_max_line_bytes")


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = ReadLimits.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert defaults == ReadLimits()
    monkeypatch.setenv("CERFLOW_SOURCE_MAX_LINE_BYTES", "1234")
    get_settings.cache_clear()
    try:
        assert ReadLimits.from_settings().max_line_bytes == 1234
    finally:
        get_settings.cache_clear()
