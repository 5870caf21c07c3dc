"""The contract between the box and support's backend (agent/contract.py), held from both sides: what the backend
sends (receipts, case states) and what the cloud signs (commands) validate against the contract's JSON Schemas and
are what the box's own parsers accept; every manifest the box writes validates; both sides use the contract's words."""

from __future__ import annotations

import io
import json
import time

import jsonschema
import pytest

from agent import contract, wire
from agent.cases import PHOTO_LABELS
from agent.cases.book import check_state
from agent.channels.cloud import CommandGate, NonceStore, sign
from agent.config import load
from agent.outbox import Outbox
from agent.redact import Secrets
from agent.report.bundle import Section, read_bundle, write_bundle
from agent.request import ReportRequest, new_report_id
from agent.transports.base import parse_receipt
from backend.rules.cases import CaseStore
from backend.rules.talk import state_for_box
from rigs import peers

BOX = "BOX-CONTRACT-1"


def valid(name: str, document: object) -> None:
    jsonschema.validate(document, contract.SCHEMAS[name]())


def test_every_schema_is_a_valid_json_schema():
    for make in contract.SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(make())


def test_both_sides_use_the_contracts_words():
    from agent.report.sections import SECTION_NAMES
    from backend.helpdesk import connector, desk
    from backend.rules import cases

    assert contract.SECTION_NAMES == SECTION_NAMES  # a data request names the sections the box has
    assert tuple(PHOTO_LABELS) == contract.PHOTO_VIEWS == desk.PHOTO_VIEWS
    assert cases.PRIORITIES == contract.PRIORITIES and set(connector.STATUS_OF_STATE) == set(contract.CASE_STATES)
    assert set(connector.PRIORITY) == set(contract.PRIORITIES)
    assert cases.KINDS == contract.ARTICLE_KINDS and cases.ASKING == contract.ASKING


def _bundle(report_id: str, **fields) -> bytes:
    manifest = {"report_id": report_id, "device": {"model": "WB", "serial": BOX}, "trigger": "local", **fields}
    out = io.BytesIO()
    write_bundle(out, manifest, [Section("summary.json", b"{}\n")])
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    return CaseStore(tmp_path / "intake", sections=contract.SECTION_NAMES)


def test_the_backends_receipt_is_the_contracts_and_the_box_takes_it(store):
    rid = new_report_id()
    receipt, new = store.accept(_bundle(rid, priority="high", subject="a subject"), rid, "https")
    assert new
    valid("receipt", receipt)
    sealed = wire.seal(wire.box_key(peers.FLEET_KEY, BOX), "receipt", BOX, receipt)
    valid("receipt", sealed)
    taken = parse_receipt(rid, json.dumps(receipt), "HTTPS")
    assert (taken.case, taken.priority) == (receipt["case"], receipt["priority"])


def test_the_backends_case_state_is_the_contracts_and_the_box_takes_it_whole(store):
    rid = new_report_id()
    receipt, _ = store.accept(_bundle(rid, subject="charging stops"), rid, "mqtt")
    store.ask(receipt["case"], "Is the RCD on?")
    store.ask(receipt["case"], "A photo of the housing, please", photo="housing")
    state = state_for_box(store.get(receipt["case"]), time.time())
    valid("case_state", state)
    sealed = wire.seal(wire.box_key(peers.FLEET_KEY, BOX), "case", BOX, state)
    valid("case_state", sealed)
    seen = check_state(wire.unseal(wire.box_key(peers.FLEET_KEY, BOX), "case", BOX, sealed))
    assert [m["kind"] for m in seen["messages"]] == ["question", "question"]
    assert seen["messages"][1]["photo"] == "housing" and seen["state"] == "waiting"
    valid("case_state", seen)  # what the box keeps is within the contract too


def test_a_signed_cloud_command_is_the_contracts_and_the_box_takes_it(tmp_path):
    key = "cloud-key-for-the-contract"
    now = time.time()
    command = sign(key, {"id": "contract-0001", "ts": now, "type": "report", "args": {}})
    valid("cloud_command", command)
    gate = CommandGate(key, NonceStore(tmp_path / "nonces.json", 600), 300, 8192, clock=lambda: now)
    assert gate.check(json.dumps(command).encode())["type"] == "report"


def test_every_manifest_the_box_writes_is_the_contracts(tmp_path, make_config):
    from agent.cases import articles
    from agent.cases.photos import clean_photo
    from agent.cli.main import look_once
    from agent.report.build import export_security_log, make_report
    from tests.unit.test_cases import camera_jpeg

    cfg = load(make_config(serial=BOX))
    outbox = Outbox(tmp_path / "outbox")
    secrets = Secrets([])
    made = [
        make_report(cfg, ReportRequest(subject="a report", description="what happens"), look_once(cfg), outbox),
        articles.answer(cfg, outbox, "CASE-000001", "Q1", "Yes, it is on.", "low", False, secrets),
        articles.photo(cfg, outbox, "CASE-000001", "housing", clean_photo(camera_jpeg()), "low", False, secrets),
        articles.feedback(cfg, outbox, "CASE-000001", True, "low", False, secrets),
    ]
    manifests = [read_bundle(outbox.bundle_path(e.report_id).read_bytes())[0] for e in made]
    _, security = export_security_log(cfg, [], (None, None))
    manifests.append(read_bundle(security)[0])
    assert {m["kind"] for m in manifests} == set(contract.MANIFEST_KINDS)
    for manifest in manifests:
        valid("manifest", manifest)
        assert contract.is_report_id(manifest["report_id"])
