"""A photo for a case, checked by its content and stripped of metadata before it leaves the box.

The page scales photos down in the browser; the box trusts none of that. It accepts a real JPEG or PNG
(read by structure, not by name or Content-Type), within size and pixel caps, and rewrites it without
everything a viewer does not need to show the image (an allowlist: EXIF with the GPS position and the
camera's serial, XMP, IPTC, ICC profiles, comments, PNG text and private chunks never leave). The image
data itself is copied byte for byte: no decoder runs on untrusted pixels here, nothing is re-compressed,
and memory stays at the size of the file; the number of parts is capped before anything is kept.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAX_BYTES = 8 << 20
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
# Counted before anything is kept: a photo is a few dozen segments (a progressive one some more); 2 million
# empty ones are an attack on the box's memory, not a photo.
MAX_SEGMENTS = 1000
# An allowlist: only what a viewer needs to show the image goes; everything else (every APPn with EXIF, XMP,
# IPTC, ICC profiles and JFIF bodies, comments, JPG0-13 and whatever a maker invents) never leaves the box.
# JPEG: quantisation and Huffman tables, arithmetic-coding conditioning, restart interval, frame and scan headers.
JPEG_KEEP = {0xDB, 0xC4, 0xCC, 0xDD, 0xDA} | {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"sBIT"}  # pixels and colour
MAX_PNG_CHUNKS = 5000  # IDAT chunks of 8 KiB (what encoders write) fill 8 MiB with about a thousand


class PhotoError(ValueError):
    """Not a photo the box can send; the message is for the person who picked the file."""


@dataclass
class Photo:
    kind: str  # "jpg" or "png"
    width: int
    height: int
    data: bytes  # without metadata
    removed: list[str]  # what was taken out, e.g. ["EXIF", "comment"]


def clean_photo(data: bytes) -> Photo:
    if len(data) > MAX_BYTES:
        raise PhotoError(f"the photo is {len(data) // 1024} KiB; at most {MAX_BYTES >> 20} MiB")
    if data.startswith(b"\xff\xd8"):
        photo = _jpeg(data)
    elif data.startswith(PNG_SIGNATURE):
        photo = _png(data)
    else:
        raise PhotoError("not a JPEG or PNG image")
    if not (0 < photo.width <= MAX_SIDE and 0 < photo.height <= MAX_SIDE) or photo.width * photo.height > MAX_PIXELS:
        raise PhotoError(
            f"the photo is {photo.width}x{photo.height} pixels; at most {MAX_PIXELS // 1_000_000} "
            f"megapixels and {MAX_SIDE} pixels a side"
        )
    return photo


def _jpeg(data: bytes) -> Photo:
    """The JPEG's segments walked once: the image's own kept, every other (EXIF, XMP, comments) dropped."""
    out, removed = [b"\xff\xd8"], []
    pos = 2
    size = None
    segments = 0
    while True:
        marker = _marker(data, pos)
        segments += 1
        if segments > MAX_SEGMENTS:
            raise PhotoError(f"not a plain photo: more than {MAX_SEGMENTS} parts in one JPEG")
        if marker == 0xD9:  # the end
            _nothing_after(data[pos + 2 :])
            out.append(b"\xff\xd9")
            break
        body, end = _segment(data, pos)
        size = _frame_size(marker, body) or size
        if marker in JPEG_KEEP:
            out.append(data[pos:end])
        else:
            removed.append(_app_name(marker, body))
        pos = end
        if marker == 0xDA:  # start of scan: the image data follows, up to the next real marker
            if size is None:
                raise PhotoError("a damaged JPEG: image data before its frame header")
            pos = _scan_end(data, end)
            out.append(data[end:pos])
    if size is None:
        raise PhotoError("a damaged JPEG: no image in it")
    return Photo("jpg", size[0], size[1], b"".join(out), sorted(set(removed)))


def _marker(data: bytes, pos: int) -> int:
    if pos + 2 > len(data) or data[pos] != 0xFF:
        raise PhotoError("a damaged JPEG: a segment is cut short")
    return data[pos + 1]


def _segment(data: bytes, pos: int) -> tuple[bytes, int]:
    """The body of the segment at POS and where the next one starts."""
    if pos + 4 > len(data):
        raise PhotoError("a damaged JPEG: a segment is cut short")
    length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    end = pos + 2 + length
    if length < 2 or end > len(data):
        raise PhotoError("a damaged JPEG: a segment is longer than the file")
    return data[pos + 4 : end], end


def _frame_size(marker: int, body: bytes) -> tuple[int, int] | None:
    """(width, height) from a start-of-frame segment; None for any other."""
    if marker not in JPEG_KEEP or marker in (0xDB, 0xC4, 0xCC, 0xDD, 0xDA):
        return None
    if len(body) < 5:
        raise PhotoError("a damaged JPEG: its frame header is cut short")
    height, width = struct.unpack(">HH", body[1:5])
    return width, height


def _scan_end(data: bytes, pos: int) -> int:
    """Where entropy-coded data from POS ends: at the next marker that is not stuffing (FF00), a restart
    (FFD0-FFD7) or fill (FFFF)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise PhotoError("a damaged JPEG: its image data has no end")
        following = data[pos + 1]
        if following == 0xFF:
            pos += 1
        elif following == 0 or 0xD0 <= following <= 0xD7:
            pos += 2
        else:
            return pos


def _nothing_after(tail: bytes) -> None:
    if tail.strip(b"\0\r\n\t ") != b"":  # a polyglot, a maker's appendix: not a plain photo
        raise PhotoError("not a plain photo: there is more after the image's end; save it again as a photo")


def _app_name(marker: int, body: bytes) -> str:
    """What a dropped segment was, in the words the page shows ("EXIF", "comment", "APP2", ...)."""
    if marker == 0xFE:
        return "comment"
    if body.startswith(b"Exif\0"):
        return "EXIF"
    if body.startswith(b"http://ns.adobe.com/xap/") or body.startswith(b"http://ns.adobe.com/xmp"):
        return "XMP"
    if marker == 0xED:
        return "IPTC"
    if body.startswith(b"JFIF\0") or body.startswith(b"JFXX\0"):
        return "JFIF"
    if body.startswith(b"ICC_PROFILE\0"):
        return "ICC profile"
    return f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"segment {marker:02X}"


def _png(data: bytes) -> Photo:
    """The PNG's chunks walked once: the image's own kept, every other (text, EXIF, time) dropped."""
    out, removed = [PNG_SIGNATURE], []
    pos = len(PNG_SIGNATURE)
    size = None
    chunks = 0
    kind = b""
    while kind != b"IEND":
        kind, end = _chunk(data, pos)
        size = size or _png_size(data, pos, kind)
        if kind in PNG_KEEP:
            out.append(data[pos:end])
        else:
            removed.append(kind.decode("latin-1"))
        pos, chunks = end, chunks + 1
        if chunks > MAX_PNG_CHUNKS:
            raise PhotoError(f"not a plain photo: more than {MAX_PNG_CHUNKS} parts in one PNG")
    if data[pos:] or size is None:
        raise PhotoError("not a plain photo: there is more after the image's end; save it again as a photo")
    return Photo("png", size[0], size[1], b"".join(out), sorted(set(removed)))


def _chunk(data: bytes, pos: int) -> tuple[bytes, int]:
    """The kind of the chunk at POS (its checksum checked) and where the next one starts."""
    if pos + 12 > len(data):
        raise PhotoError("a damaged PNG: it ends before its IEND chunk")
    length, kind = struct.unpack(">I4s", data[pos : pos + 8])
    end = pos + 12 + length
    if end > len(data):
        raise PhotoError("a damaged PNG: a chunk is longer than the file")
    if zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
        raise PhotoError(f"a damaged PNG: the {kind.decode('latin-1')!r} chunk fails its checksum")
    return kind, end


def _png_size(data: bytes, pos: int, kind: bytes) -> tuple[int, int]:
    """(width, height) from the header, which must be the first chunk."""
    if kind != b"IHDR" or struct.unpack(">I", data[pos : pos + 4])[0] != 13:
        raise PhotoError("a damaged PNG: it does not start with its header")
    width, height = struct.unpack(">II", data[pos + 8 : pos + 16])
    return width, height
