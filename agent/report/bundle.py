"""The report bundle: a deterministic tar.gz with manifest.json as its first member."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Protocol

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
# Level 6 is within a few per cent of 9 on JSON and markedly cheaper on a Pi's CPU.
GZIP_LEVEL = 6


class BundleError(Exception):
    """A bundle is damaged or not a report; the message says what is wrong."""


@dataclass
class Section:
    """A bundle member: its bytes, or WRITE, which streams them into a file when the bundle is written
    (the history of a day at 1 Hz is never held in memory as one piece)."""

    name: str  # file name inside the bundle, e.g. "readings.json"
    data: bytes = b""
    write: Callable[[Sink], object] | None = None


class Sink(Protocol):
    """Where a section writes its member: a file, or anything with write(bytes)."""

    def write(self, data: bytes, /) -> int: ...


class _Counted:
    """A file that hashes and counts what goes through it."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)


# The history member (a day at 1 Hz, 1.5 MB of JSON) is xz inside the tar.gz: 82 KB where gzip gives 109 KB,
# for 0.12 s of CPU instead of 0.02 s. LZMA2 at preset 6 with a 256 KiB dictionary (not 8 MiB): the columns
# repeat at short range, and the encoder needs 4 MB instead of 94 MB (scripts/bench.py history_*).
XZ_PRESET, XZ_DICT_BYTES = 6, 256 << 10


def xz(write: Callable[[Sink], object]) -> Callable[[Sink], None]:
    """WRITE's output as an .xz stream (a member named *.xz): compressed as it comes, never held whole."""

    def compressed(sink: Sink) -> None:
        import lzma

        lzma2 = {"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET, "dict_size": XZ_DICT_BYTES}
        c = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=[lzma2])

        class Into:
            def write(self, data: bytes) -> int:
                sink.write(c.compress(data))
                return len(data)

        write(Into())
        sink.write(c.flush())

    return compressed


def unxz(data: bytes, most: int = 64 << 20) -> bytes:
    """A member's .xz stream, whole and checked, at most MOST bytes out."""
    import lzma

    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        out = d.decompress(data, most)
    except lzma.LZMAError as exc:
        raise BundleError(f"not a readable .xz member: {exc}") from None
    if not d.eof:
        raise BundleError("not a readable .xz member: cut short, or unpacks to more than the limit")
    return out


def to_json(obj, compact: bool = False) -> bytes:
    """Readable JSON; COMPACT for bulk data (the history's number columns)."""
    if compact:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n"
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n"


def write_bundle(out: BinaryIO, manifest: dict, sections: list[Section], scratch: str | None = None) -> dict:
    """Write the bundle to OUT; the same inputs give the same bytes. Returns the full manifest.

    Streamed members are written once to unnamed files in SCRATCH (by default beside OUT), their sizes and
    checksums taken on the way, so the manifest can come first; then each is copied into the tar."""
    scratch = scratch or (os.path.dirname(out.name) if isinstance(getattr(out, "name", None), str) else None)
    files: list[IO[bytes]] = []
    listed: list[dict[str, Any]] = []
    try:
        for s in sections:
            if s.write is None:
                listed.append({"name": s.name, "bytes": len(s.data), "sha256": hashlib.sha256(s.data).hexdigest()})
                continue
            f = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 (closed with the others in the finally below)
            files.append(f)
            counted = _Counted(f)
            s.write(counted)
            listed.append({"name": s.name, "bytes": counted.size, "sha256": counted.sha.hexdigest()})
        manifest = dict(manifest, schema_version=SCHEMA_VERSION, sections=listed)
        mtime = int(manifest.get("created", {}).get("wall", 0))
        streamed = iter(files)
        with (
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=mtime, filename="") as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
        ):
            members: list[tuple[str, int, IO[bytes]]] = [(MANIFEST, *_held(to_json(manifest)))]
            for s, entry in zip(sections, listed, strict=True):
                held = _held(s.data) if s.write is None else (entry["bytes"], next(streamed))
                members.append((s.name, *held))
            for name, size, source in members:
                info = tarfile.TarInfo(name)
                info.mtime = mtime
                info.mode = 0o644
                info.size = size
                info.uname = info.gname = "diag-agent"
                source.seek(0)
                tar.addfile(info, source)
        return manifest
    finally:
        for spooled in files:
            spooled.close()


def _held(data: bytes) -> tuple[int, IO[bytes]]:
    """A member held in memory: its size, and a file to copy it from."""
    return len(data), io.BytesIO(data)


def _gunzip(data: bytes, most: int) -> bytes:
    """The whole gzip stream, its trailer (CRC-32 and length) checked: a tar reader stops at the archive's
    end marker and never reads it. At most MOST bytes come out (no gzip bomb fills the memory)."""
    z = zlib.decompressobj(wbits=31)
    try:
        raw = z.decompress(data, most)
        if z.unconsumed_tail:
            raise BundleError(f"unpacks to more than {most} bytes")
        raw += z.flush()
    except zlib.error as exc:
        raise BundleError(f"not a readable tar.gz: {exc}") from None
    if not z.eof:
        raise BundleError("not a readable tar.gz: the gzip stream is cut short")
    if z.unused_data:
        raise BundleError("not a readable tar.gz: bytes after the gzip stream")
    return raw


def read_bundle(data: bytes, max_member_bytes: int = 64 << 20) -> tuple[dict, dict[str, bytes]]:
    """Open a bundle and verify every section against the manifest; raise BundleError on damage."""
    members = _members(_gunzip(data, max_member_bytes * 4), max_member_bytes)
    if MANIFEST not in members:
        raise BundleError("no manifest.json")
    try:
        manifest = json.loads(members[MANIFEST])
        listed = {s["name"]: s for s in manifest["sections"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"manifest.json is not a valid manifest: {exc}") from None
    for name, entry in listed.items():
        if name not in members:
            raise BundleError(f"section {name} is listed in the manifest but missing")
        digest = hashlib.sha256(members[name]).hexdigest()
        if digest != entry.get("sha256") or len(members[name]) != entry.get("bytes"):
            raise BundleError(f"section {name} does not match its checksum")
    extra = set(members) - set(listed) - {MANIFEST}
    if extra:
        raise BundleError(f"members not in the manifest: {', '.join(sorted(extra))}")
    return manifest, members


def _members(raw: bytes, max_member_bytes: int) -> dict[str, bytes]:
    """The tar's plain files by name, the manifest first; BundleError for anything else in it."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                _check_member(info, first=not members, max_member_bytes=max_member_bytes)
                member = tar.extractfile(info)
                if member is None:  # only a regular file has content; checked above
                    raise BundleError(f"member {info.name} has no content")
                members[info.name] = member.read()
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise BundleError(f"not a readable tar.gz: {exc}") from None
    return members


def _check_member(info: tarfile.TarInfo, first: bool, max_member_bytes: int) -> None:
    if not info.isfile() or "/" in info.name or info.name.startswith("."):
        raise BundleError(f"unexpected member {info.name!r}")
    if info.size > max_member_bytes:
        raise BundleError(f"member {info.name} is {info.size} bytes, over the limit")
    if first and info.name != MANIFEST:
        raise BundleError(f"first member is {info.name!r}, not {MANIFEST}")
