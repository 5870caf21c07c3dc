"""Nobody's bytes are trusted (issue 24), part by part: photos by allowlist, what the backend sends sealed
and bounded, one redaction for every output, text from outside shown harmless."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
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


def test_case_versions_only_move_forward_however_many_cases_the_backend_keeps(tmp_path):
    from agent.cases.book import CaseBook
    from agent.cases.inbox import CaseInbox
    from agent.config import SupportConfig

    key = wire.box_key("fleet", "BOX-1")
    book = CaseBook(tmp_path, max_cases=50)
    inbox = CaseInbox(SupportConfig(case_key=key), "BOX-1", book, lambda: None)

    def sealed(n: int, version: int, question: str = "", state: str = "open") -> dict:
        messages = [{"id": "Q9", "kind": "question", "text": question}] if question else []
        body = {"case": f"CASE-{n:06d}", "state": state, "priority": "medium", "version": version, "messages": messages}
        return wire.seal(key, "case", "BOX-1", dict(body, updated=1000 + n))

    for round_ in range(3):
        inbox.take(sealed(1, 10 + round_, f"the newest question {round_}"), "MQTT")  # at once, over MQTT
        stale = [sealed(1, 9)] + [sealed(n, 1, state="solved" if n % 2 else "open") for n in range(2, 62)]
        inbox.take_list(stale, "HTTPS")  # then a list of 61 cases, one of them an older version of case 1
        case = book.get("CASE-000001")
        assert case is not None and case["messages"][0]["text"] == f"the newest question {round_}"
    assert len(book.cases()) == 50 and inbox.dropped == 0
    inbox.take(dict(sealed(1, 99), sig="0" * 64), "MQTT")
    assert inbox.dropped == 1 and book.get("CASE-000001")["version"] == 12


# --- one redaction, shown harmless ------------------------------------------------------------------
def test_a_secret_json_escaped_or_split_over_two_log_lines_is_scrubbed_and_escapes_are_shown():
    from agent.redact import Secrets
    from agent.text import shown

    secrets = Secrets(['pa/ss"word-42', "tok3n-abcdefghijkl"])
    text = (
        '{"password": "pa\\/ss\\u0022word-42"}\n'
        "2026-12-03 08:00:01 fw: auth tok3n-abcd\n2026-12-03 08:00:01 fw: efghijkl done\n"
    )
    clean = secrets.text(text)
    assert "pa\\/ss" not in clean and "tok3n" not in clean and "efghijkl" not in clean
    assert "2026-12-03 08:00:01 fw: [REDACTED] done" in clean  # the next line's own prefix is kept
    assert shown("a\x1b]0;title\x07b\u202ec\nd") == "a\\x1b]0;title\\x07b\\u202ec\nd"
    assert shown("x\ny\tz", one_line=True) == "x\\x0ay\\x09z"


# --- OCPP inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "location",
    ["ftp://csms:pw@127.0.0.1/logs%0d%0aDELE%20x/", "ftp://us%0aer:pw@127.0.0.1/logs/", "https://h/\x1b[2J"],
)
def test_a_location_with_control_characters_even_encoded_is_rejected(location):
    from agent.channels.ocpp import OcppDelegate

    delegate = OcppDelegate(lambda r: ("x", b""), "BOX-1", None)
    answer = delegate.request({"request_id": 1, "location": location})
    assert answer["status"] == "Rejected" and "control characters" in answer["reason"]


def _trickling_server(reply: bytes) -> tuple[socket.socket, threading.Event]:
    """A server that answers each connection with REPLY one byte every 0.5 s, for ever."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve():
        conn, _ = server.accept()
        while not done.is_set():
            for byte in reply:
                if done.wait(0.5):
                    break
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    return server, done


@pytest.mark.parametrize("scheme", ["ftp", "http"])
def test_an_upload_to_a_server_that_trickles_ends_at_its_deadline(scheme):
    from agent.transports.upload import UploadError, parse_location, upload

    server, done = _trickling_server(
        b"220 " + b"w" * 1000 if scheme == "ftp" else b"HTTP/1.1 200 OK\r\nX: " + b"y" * 1000
    )
    try:
        location = parse_location(f"{scheme}://127.0.0.1:{server.getsockname()[1]}/logs/")
        # A byte every 0.5 s: a 30 s read timeout per byte would never run out; the upload's deadline does.
        with pytest.raises(UploadError, match="within"):
            upload(location, "f.tar.gz", b"\x1f\x8b" * 100, deadline_s=2.0)
    finally:
        done.set()
        server.close()


def test_an_8_mib_photo_of_two_million_empty_segments_is_refused_within_a_small_memory_bound():
    import tracemalloc

    photo = b"\xff\xd8" + _segment(0xDB, b"") * ((8 << 20) // 4 - 1)  # 8 MiB, 2 million parts
    tracemalloc.start()
    try:
        with pytest.raises(PhotoError, match="more than 1000 parts"):
            clean_photo(photo)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak  # the agent went from 46 MB to 342 MB on it before


def test_answers_and_photos_to_support_are_scrubbed_of_what_a_hook_declared(tmp_path):
    from agent.cases import articles
    from agent.cases.photos import clean_photo as clean
    from agent.config import AgentConfig
    from agent.outbox import Outbox
    from agent.redact import Secrets
    from agent.report.bundle import read_bundle

    declared = "declared-by-a-hook-0042"
    secrets = Secrets([declared])
    outbox = Outbox(tmp_path / "outbox")
    cfg = AgentConfig(state_dir=str(tmp_path))
    said = articles.answer(cfg, outbox, "CASE-1", "Q1", f"the psk is {declared}", "high", True, secrets)
    photo = articles.photo(cfg, outbox, "CASE-1", "housing", clean(_plain_jpeg()), "high", True, secrets, declared)
    for entry in (said, photo):
        data = outbox.bundle_path(entry.report_id).read_bytes()
        manifest, members = read_bundle(data)
        assert declared not in json.dumps(manifest) + json.dumps(entry.extra)
        assert all(declared.encode() not in body for body in members.values())
