"""Big block-style YAML documents are read by indexing (purelink.catalog.openapi_index): only the
GET operations and the components they $ref are parsed. The proposal must be the one the full
parse gives, for every vendored document written as YAML in the layouts vendors publish; any
other layout falls back to the full parse."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from purelink.catalog.openapi import import_openapi, load_document
from purelink.catalog.openapi_index import LazyMap, _Raw, index_yaml

DOCS = Path(__file__).parents[2] / "fixtures" / "openapi"
JSON_DOCS = ["stripe/stripe.json.gz", "github/github.json.gz", "twilio/twilio.json.gz", "hubspot/hubspot_like.json"]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def read(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def layouts() -> list:
    """(name, YAML text): Asana's own YAML, the sandbox document, and each JSON document written
    as PyYAML writes block style (sequences at their key's indentation) and as many vendors do
    (four spaces, sequences indented, long lines folded)."""
    out = [("asana.yaml", read(DOCS / "asana" / "asana.yaml.gz")),
           ("sandbox_openapi.yaml", (DOCS.parent / "sandbox_openapi.yaml").read_text())]
    for name in JSON_DOCS:
        doc = json.loads(read(DOCS / name))
        out.append((f"{name}:pyyaml", yaml.dump(doc, Dumper=DUMPER, sort_keys=False, width=200)))
        out.append((f"{name}:indented", indented(doc)))
    return out


def indented(doc: dict) -> str:
    class Indented(yaml.SafeDumper):  # sequences indented under their key, as Swagger editors write
        def increase_indent(self, flow: bool = False, indentless: bool = False):
            return super().increase_indent(flow, False)

    return yaml.dump(doc, Dumper=Indented, sort_keys=False, width=80, indent=4)


@pytest.mark.parametrize(("name", "text"), layouts(), ids=[n for n, _ in layouts()])
def test_the_indexed_parse_proposes_what_the_full_parse_does(name, text):
    index = index_yaml(text)
    assert index is not None, f"{name} fell back to the full parse"
    full = import_openapi(yaml.load(text, Loader=yaml.CSafeLoader), name="doc")
    fast = import_openapi(index, name="doc")
    assert fast.spec == full.spec
    assert fast.guesses == full.guesses and fast.skipped == full.skipped


def test_only_get_operations_and_the_components_they_name_are_parsed():
    text = yaml.dump(json.loads(read(DOCS / "github" / "github.json.gz")), Dumper=DUMPER, sort_keys=False)
    doc = index_yaml(text)
    full = yaml.load(text, Loader=yaml.CSafeLoader)
    gets = [p for p, item in full["paths"].items() if "get" in item]
    assert list(doc["paths"]) == gets and all(set(item) <= {"get", "parameters"} for item in doc["paths"].values())
    import_openapi(doc, name="gh")
    schemas = doc["components"]["schemas"]
    assert isinstance(schemas, LazyMap) and set(schemas) == set(full["components"]["schemas"])
    read_ones = [k for k in schemas if not isinstance(dict.__getitem__(schemas, k), _Raw)]
    assert read_ones and len(read_ones) < len(schemas)  # the ones GET responses named, not all
    assert all(schemas[k] == full["components"]["schemas"][k] for k in read_ones)


@pytest.mark.parametrize("text", [
    "openapi: 3.0.0\ninfo: &info {title: t, version: '1'}\npaths: {}\nx-copy: *info\n",  # anchor and alias
    "{openapi: 3.0.0, info: {title: t}, paths: {}}\n",                                   # flow style
    "openapi: 3.0.0\npaths: {}\n---\nopenapi: 3.0.0\n",                                   # two documents
    "openapi: !!str 3.0.0\npaths: {}\n",                                                  # a tag
    "openapi: 3.0.0\n? paths\n: {}\n",                                                    # a complex key
])
def test_other_layouts_are_parsed_whole(text):
    assert index_yaml(text) is None


def test_load_document_reads_a_big_block_yaml_by_its_index(tmp_path):
    doc = json.loads(read(DOCS / "stripe" / "stripe.json.gz"))
    path = tmp_path / "stripe.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    loaded, where = load_document(path)
    assert where == str(path) and isinstance(loaded["components"], LazyMap)
    assert import_openapi(path).spec == import_openapi(doc).spec
