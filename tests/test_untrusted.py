"""Nobody's bytes are trusted (issue 24), part by part: photos by allowlist, what the backend sends sealed
and bounded, one redaction for every output, text from outside shown harmless."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import wire
from agent.cases.photos import MAX_SEGMENTS, PhotoError, clean_photo

CANARY = b"CANARY-GPS-52.5200N-OWNER-JANE-SERIAL-X9"


# --- photos -----------------------------------------------------------------------------------------
def _segment(marker: int, body: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body


def _plain_jpeg(progressive: bool = False) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 30, 30)).save(out, "JPEG", progressive=progressive)
    return out.getvalue()


def _split_jpeg(data: bytes) -> tuple[list[bytes], bytes]:
    """The segments before the first scan, and the rest (scan data to EOI)."""
    pos, parts = 2, []
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        parts.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return parts, data[pos:]


# Every place a camera or an attacker puts metadata in a JPEG: the APPn (JFIF body, EXIF, XMP, ICC, Adobe,
# makers'), a comment, the JPG0-13 extensions.
METADATA_MARKERS = list(range(0xE0, 0xF0)) + [0xFE] + list(range(0xF0, 0xFE))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=st.lists(st.tuples(st.integers(0, 100), st.sampled_from(METADATA_MARKERS), st.binary(max_size=64))),
    progressive=st.booleans(),
)
def test_a_canary_in_any_metadata_place_of_a_jpeg_never_survives(extra, progressive):
    from PIL import Image

    parts, scan = _split_jpeg(_plain_jpeg(progressive))
    for where, marker, noise in extra:
        prefix = b"JFIF\0" if marker == 0xE0 else b"ICC_PROFILE\0" if marker == 0xE2 else b""
        parts.insert(where % (len(parts) + 1), _segment(marker, prefix + noise + CANARY + noise))
    photo = clean_photo(b"\xff\xd8" + b"".join(parts) + scan)
    assert CANARY not in photo.data
    assert Image.open(io.BytesIO(photo.data)).size == (48, 32)
    kept = _split_jpeg(photo.data)[0]
    assert all(p[1] in (0xDB, 0xC4, 0xDD) or 0xC0 <= p[1] <= 0xCF for p in kept)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@settings(max_examples=150, deadline=None)
@given(
    extra=st.lists(
        st.tuples(
            st.integers(0, 10),
            st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"exIf", b"iCCP", b"tIME", b"prVt", b"caNb"]),
        )
    )
)
def test_a_canary_in_any_chunk_of_a_png_but_the_pixels_and_colours_never_survives(extra):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 8), (1, 2, 3)).save(out, "PNG")
    data = out.getvalue()
    chunks, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    for where, kind in extra:  # after IHDR, before IEND
        chunks.insert(1 + where % (len(chunks) - 1), _chunk(kind, CANARY))
    photo = clean_photo(data[:8] + b"".join(chunks))
    assert CANARY not in photo.data and Image.open(io.BytesIO(photo.data)).size == (16, 8)


def test_what_is_not_a_plain_image_is_refused_and_many_parts_are_refused_before_they_are_kept():
    jpeg = _plain_jpeg()
    with pytest.raises(PhotoError, match="more after the image"):
        clean_photo(jpeg + b"PK\x03\x04" + CANARY)  # a JPEG+ZIP polyglot
    parts, scan = _split_jpeg(jpeg)
    empty_tables = _segment(0xDB, b"") * (MAX_SEGMENTS + 1)
    with pytest.raises(PhotoError, match="more than 1000 parts"):
        clean_photo(b"\xff\xd8" + empty_tables + b"".join(parts) + scan)
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    with pytest.raises(PhotoError, match="more after the image"):
        clean_photo(out.getvalue() + CANARY)


# --- what the backend sends ---------------------------------------------------------------------------
def test_a_sealed_message_is_believed_only_with_its_own_purpose_box_and_key():
    key = wire.box_key("fleet", "BOX-1")
    sealed = wire.seal(key, "case", "BOX-1", {"case": "CASE-1", "version": 2})
    assert wire.unseal(key, "case", "BOX-1", sealed) == {"case": "CASE-1", "version": 2}
    for purpose, box, k, data, why in [
        ("receipt", "BOX-1", key, sealed, "wrong signature"),  # a case state cannot pose as a receipt
        ("case", "BOX-2", key, sealed, "wrong signature"),  # nor count for another box
        ("case", "BOX-1", wire.box_key("fleet", "BOX-2"), sealed, "wrong signature"),
        ("case", "BOX-1", key, dict(sealed, version=3), "wrong signature"),
        ("case", "BOX-1", key, {"case": "CASE-1"}, "not signed"),
        ("case", "BOX-1", None, sealed, "no key"),
    ]:
        with pytest.raises(wire.WireError, match=why):
            wire.unseal(k, purpose, box, data)


@pytest.mark.parametrize(
    "payload, why",
    [
        (b"[" * 100_000 + b"]" * 100_000, "larger than"),
        (b"[" * 50 + b"]" * 50, "nested deeper"),
        (b'{"version": ' + b"9" * 400 + b"}", "digits"),
        (b'{"at": 1e999}', "not a plain finite"),
        (b'{"at": NaN}', "not a number"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_what_is_too_big_deep_or_odd_is_refused_before_python_builds_it(payload, why):
    with pytest.raises(wire.WireError, match=why):
        wire.parse(payload, 65536, 8)
    assert json.loads(json.dumps(wire.parse(b'{"ok": [1, 2.5, "x"]}', 100, 3))) == {"ok": [1, 2.5, "x"]}
