"""``probecheck schema``: the spec language's JSON Schema, for editors.

Validation with the schema itself needs ``jsonschema``, which probecheck does not depend on:
those tests skip without it; the structural tests (closed objects) run everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from probecheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SPECS = sorted((ROOT / "specs").glob("*.yaml"))

MINIMAL = {
    "images": {"face": "face.png"},
    "regions": {"eyes": {"boxes": [[1, 2, 3, 4]]}},
    "claims": [
        {
            "id": "c",
            "layer": "conv1",
            "channels": [0],
            "drop": {"image": "face", "mask_with": "gray", "region": "eyes", "at_least": 0.5},
        }
    ],
}


def printed_schema(capsys) -> dict[str, Any]:
    assert main(["schema"]) == 0
    return json.loads(capsys.readouterr().out)


def test_schema_prints_the_spec_language(capsys):
    schema = printed_schema(capsys)
    assert {"model", "images", "regions", "claims"} <= set(schema["properties"])
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["claims"]


def test_schema_is_indented_for_people(capsys):
    main(["schema"])
    out = capsys.readouterr().out
    assert out.startswith("{\n  ") and out.endswith("}\n")


def test_every_object_forbids_unknown_keys(capsys):
    schema = printed_schema(capsys)
    objects = [schema, *schema["$defs"].values()]
    assert all(obj.get("additionalProperties") is False for obj in objects)


def test_schema_out_writes_a_file_and_refuses_to_overwrite(capsys, tmp_path):
    out = tmp_path / "probecheck.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == "probecheck spec"
    assert str(out) in capsys.readouterr().out
    out.write_text("mine")
    assert main(["schema", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "Traceback" not in err
    assert out.read_text() == "mine"
    assert main(["schema", "--out", str(out), "--force"]) == 0
    assert json.loads(out.read_text())["title"] == "probecheck spec"


@pytest.fixture
def validator(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    schema = printed_schema(capsys)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_a_minimal_spec_and_rejects_an_unknown_key(validator):
    assert not list(validator.iter_errors(MINIMAL))
    misspelt = {**MINIMAL, "claims": [{**MINIMAL["claims"][0], "chanels": [0]}]}
    errors = list(validator.iter_errors(misspelt))
    assert errors and any("chanels" in error.message for error in errors)
    assert list(validator.iter_errors({**MINIMAL, "extra": 1}))


@pytest.mark.parametrize("path", SHIPPED_SPECS, ids=[p.name for p in SHIPPED_SPECS])
def test_schema_validates_the_shipped_specs(validator, path):
    data = yaml.safe_load(path.read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors
