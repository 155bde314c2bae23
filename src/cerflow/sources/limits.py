"""Bounds on what an archive or text file may make a reader decompress and hold.

A 1.2 MB FAERS zip whose DEMO member inflates to 1.15 GB of zeros without a newline ran an
ingest worker for 240 s up to 7 GB: every reader here trusted the archive. Three limits,
all settings (`CERFLOW_SOURCE_MAX_*`), are checked while streaming, so a bomb is stopped
after at most `max_member_bytes` of inflation and `max_line_bytes` of memory per line:

- `max_member_bytes` (8 GiB): decompressed size of one archive member. The largest real
  members are MAUDE's cumulative files (mdrfoiThru/foidevthru, a few GB); FAERS quarterly
  tables stay under 1.5 GB.
- `max_members` (64): members per archive. A FAERS quarter has about 10 (7 tables, the
  deleted-cases list, PDFs and a readme); FDA's MAUDE zips hold one file each.
- `max_line_bytes` (1 MiB): one logical row, embedded newlines included. Real FAERS rows
  are under 2 KB; MAUDE narratives (foitext) under 40 KB.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cerflow.config import get_settings
from cerflow.sources.base import SourceFormatError

_CHUNK = 1 << 22


class SourceLimitError(SourceFormatError):
    """Input exceeds a size limit: names file, member, the limit and the setting to raise."""

    def __init__(self, message: str, *, location: str, setting: str, limit: int) -> None:
        self.setting = setting
        self.limit = limit
        env = f"CERFLOW_{setting.upper()}"
        super().__init__(
            f"{message} (limit {limit:,}; if the file is genuine, raise {env})",
            location=location,
        )


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_member_bytes: int = 8 << 30
    max_members: int = 64
    max_line_bytes: int = 1 << 20

    @classmethod
    def from_settings(cls, settings: Any = None) -> ReadLimits:
        """The configured limits (`get_settings()` unless a Settings object is given)."""
        if settings is None:
            settings = get_settings()
        return cls(
            max_member_bytes=settings.source_max_member_bytes,
            max_members=settings.source_max_members,
            max_line_bytes=settings.source_max_line_bytes,
        )


def resolve(limits: ReadLimits | None) -> ReadLimits:
    return limits if limits is not None else ReadLimits.from_settings()


def check_archive(zf: zipfile.ZipFile, location: str, limits: ReadLimits) -> None:
    """Refuse an archive by its directory before inflating anything (declared sizes)."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > limits.max_members:
        raise SourceLimitError(
            f"archive has {len(infos):,} members",
            location=location,
            setting="source_max_members",
            limit=limits.max_members,
        )
    for info in infos:
        if info.file_size > limits.max_member_bytes:
            raise SourceLimitError(
                f"member {info.filename} declares {info.file_size:,} bytes decompressed",
                location=f"{location}!{info.filename}",
                setting="source_max_member_bytes",
                limit=limits.max_member_bytes,
            )


class _Bounded(io.RawIOBase):
    """A member stream that raises once more than `limit` bytes came out (declared sizes
    can lie, so the count is of bytes actually inflated)."""

    def __init__(self, raw: IO[bytes], location: str, limit: int) -> None:
        self._raw = raw
        self._location = location
        self._limit = limit
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(min(len(buffer), self._limit + 1 - self._seen) or 1)
        self._seen += len(data)
        if self._seen > self._limit:
            raise SourceLimitError(
                "member inflates beyond the decompressed-size limit",
                location=self._location,
                setting="source_max_member_bytes",
                limit=self._limit,
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_member(
    zf: zipfile.ZipFile, member: str, location: str, limits: ReadLimits
) -> io.BufferedReader:
    """`zf.open(member)`, raising `SourceLimitError` past `limits.max_member_bytes`."""
    return io.BufferedReader(
        _Bounded(zf.open(member), f"{location}!{member}", limits.max_member_bytes), _CHUNK
    )


def read_member(zf: zipfile.ZipFile, member: str, location: str, limits: ReadLimits) -> bytes:
    with open_member(zf, member, location, limits) as fh:
        return fh.read()


def line_too_long(location: str, line: int, limits: ReadLimits) -> SourceLimitError:
    err = SourceLimitError(
        f"line {line} is longer than the line-length limit",
        location=location,
        setting="source_max_line_bytes",
        limit=limits.max_line_bytes,
    )
    err.line = line
    return err


def bounded_lines(stream: IO[bytes], location: str, limits: ReadLimits) -> Iterator[bytes]:
    """Physical lines with their line ends (like iterating a file), each at most
    `max_line_bytes`: a member without newlines never sits in memory whole."""
    limit = limits.max_line_bytes
    no = 0
    while True:
        line = stream.readline(limit + 2)  # + room for "\r\n"
        if not line:
            return
        no += 1
        if len(line.rstrip(b"\r\n")) > limit:
            raise line_too_long(location, no, limits)
        yield line
