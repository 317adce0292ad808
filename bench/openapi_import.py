"""Import time and peak memory of `purelink sources import` for each vendored OpenAPI document,
the full documents they were cut from (when given), and a ~10 MB document (GitHub's paths
repeated, as JSON and as YAML), measured as a user runs it: one `purelink` process each, under
GNU time. Each YAML document (and each JSON one written as block-style YAML) is imported twice:
parsed whole (as before issue 19's indexing) and through the index. Rewrites the `openapi`
section of bench/RESULTS.md with --write.

    python bench/openapi_import.py [--full DIR] [--write]

DIR holds the untrimmed documents (stripe.json, github.json, twilio.json, asana.yaml), e.g.
extracted from the commits named in tests/fixtures/openapi/*/SOURCE.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "tests" / "fixtures" / "openapi"
VENDORED = [DOCS / "stripe" / "stripe.json.gz", DOCS / "github" / "github.json.gz",
            DOCS / "hubspot" / "hubspot_like.json", DOCS / "twilio" / "twilio.json.gz", DOCS / "asana" / "asana.yaml.gz"]


class NoAliases(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Published YAML documents repeat their text rather than use anchors: so does the big one."""

    def ignore_aliases(self, data) -> bool:
        return True


def big_document(source: Path, target_mb: float, folder: Path) -> tuple[Path, Path]:
    """GitHub's paths repeated under /copyN/ until the JSON text is about `target_mb` MB."""
    raw = source.read_bytes()
    doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    paths = doc["paths"]
    size = len(json.dumps(doc, indent=1))  # written indented, as vendors publish them
    part = len(json.dumps(paths, indent=1))
    copies = max(1, math.ceil((target_mb * 1e6 - (size - part)) / part))
    doc["paths"] = {f"/copy{i}{p}" if i else p: item for i in range(copies) for p, item in paths.items()}
    as_json, as_yaml = folder / "big.json", folder / "big.yaml"
    as_json.write_text(json.dumps(doc, indent=1))
    as_yaml.write_text(yaml.dump(doc, Dumper=NoAliases, sort_keys=False, width=200))
    return as_json, as_yaml


# The command a user types, with the index switched off: the whole-parse figures ("before")
WHOLE = ("import runpy, sys, purelink.catalog.openapi as o; o.indexed = lambda text: None; "
         "sys.argv = ['purelink', *sys.argv[1:]]; runpy.run_module('purelink.cli', run_name='__main__')")


def as_yaml(doc: Path, folder: Path) -> Path:
    """A JSON document written as block-style YAML, as vendors who publish YAML write it."""
    raw = doc.read_bytes()
    data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    vendored = doc.parent.is_relative_to(DOCS)  # the trimmed test copy, not the full document
    target = folder / (doc.name.split(".")[0] + (".vendored" if vendored else "") + ".yaml")
    target.write_text(yaml.dump(data, Dumper=NoAliases, sort_keys=False, width=200))
    return target


def same_proposal(doc: Path) -> bool:
    """The index's proposal is the whole parse's (spec, every guess, every skipped endpoint)."""
    from purelink.catalog.openapi import import_openapi
    from purelink.catalog.openapi_index import index_yaml

    text = doc.read_bytes()
    text = (gzip.decompress(text) if text[:2] == b"\x1f\x8b" else text).decode()
    index = index_yaml(text)
    if index is None:
        return False
    a = import_openapi(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), name="bench_doc")
    b = import_openapi(index, name="bench_doc")
    return a.spec == b.spec and a.guesses == b.guesses and a.skipped == b.skipped


ROUNDS = 3  # the median of three runs: the machine is shared, one run can land on a busy second


def measure(doc: Path, workspace: Path, *, whole: bool = False) -> dict:
    runs = sorted((once(doc, workspace, whole=whole) for _ in range(ROUNDS)), key=lambda r: r["wall"])
    return {**runs[len(runs) // 2], "rss": max(r["rss"] for r in runs)}


def once(doc: Path, workspace: Path, *, whole: bool = False) -> dict:
    python = [sys.executable, "-c", WHOLE] if whole else [sys.executable, "-m", "purelink.cli"]
    cmd = ["/usr/bin/time", "-v", *python, "sources", "import", str(doc),
           "--name", "bench_doc", "--accept-guesses", "--yes", "--workspace", str(workspace)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{doc}: {done.stderr[-600:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1]) / 1024
    streams = int(re.search(r": (\d+) stream\(s\) from", done.stdout)[1])
    (workspace / "connectors" / "bench_doc.yaml").unlink()
    return {"doc": doc.name, "mb": doc.stat().st_size / 1e6, "wall": wall, "rss": rss, "streams": streams}


def baseline(workspace: Path) -> dict:
    """The same process doing nothing: interpreter and purelink import, to read the figures against."""
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "purelink.cli", "sources", "--help"],
                          capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return {"rss": int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1]) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, help="folder with the untrimmed documents")
    parser.add_argument("--write", action="store_true", help="rewrite the openapi section of bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docs = list(VENDORED)
        if args.full:
            docs += sorted(p for p in args.full.iterdir() if p.suffix in (".json", ".yaml"))
        github_full = (args.full / "github.json") if args.full and (args.full / "github.json").is_file() else VENDORED[1]
        docs += list(big_document(github_full, 10, folder))
        base = baseline(folder)
        load = os.getloadavg()[0]
        rows = []
        for doc in docs:
            if ".json" in doc.suffixes:
                rows.append((measure(doc, folder), None))
                doc = as_yaml(doc, folder) if doc.name != "big.json" else None
            if doc is not None:  # a YAML text: parsed whole (before) and through the index (after)
                rows.append((measure(doc, folder, whole=True), {**measure(doc, folder), "same": same_proposal(doc)}))
    lines = ["<!-- section:openapi -->",
             "## OpenAPI import (issue 19)",
             "",
             ("`python bench/openapi_import.py --full DIR --write`: one `purelink sources import DOC --accept-guesses "
              "--yes` process per document, timed as a whole (interpreter start included) with GNU time's peak RSS, the median "
              f"of {ROUNDS} runs (the highest RSS). "
              f"A `purelink sources --help` process peaks at {base['rss']:.0f} MB, for comparison. The vendored test "
              "documents (trimmed), the full documents they were cut from when given, then GitHub's paths repeated "
              "to about 10 MB. Every YAML text (a vendor's own, or a JSON document written as block-style YAML, "
              "`NAME.yaml` below `NAME.json`) is imported twice: parsed whole by libyaml's C loader (before) and "
              "through the index that parses only the GET operations and the components they `$ref` (after; "
              "`purelink/catalog/openapi_index.py`). JSON is always parsed whole by the standard library. "
              f"Load average when measured: {load:.1f} on 2 cores (other developers' tests ran alongside)."),
             "",
             "| document | MB | streams | whole parse s | whole parse RSS MB | indexed s | indexed RSS MB | same proposal |",
             "|---|---|---|---|---|---|---|---|"]
    for before, after in rows:
        tail = (f"{after['wall']:.2f} | {after['rss']:.0f} | {'yes' if after['same'] else 'NO'}" if after
                else "- | - | -")
        lines.append(f"| {before['doc']} | {before['mb']:.2f} | {before['streams']} | {before['wall']:.2f} | "
                     f"{before['rss']:.0f} | {tail} |")
    big_json = next(b for b, _ in rows if b["doc"] == "big.json")
    big_yaml, big_indexed = next((b, a) for b, a in rows if b["doc"] == "big.yaml")
    lines += ["",
              (f"- The {big_yaml['mb']:.0f} MB YAML document: {big_yaml['wall']:.1f} s and {big_yaml['rss']:.0f} MB "
               f"parsed whole, {big_indexed['wall']:.1f} s and {big_indexed['rss']:.0f} MB through the index "
               f"(the same paths as JSON: {big_json['wall']:.1f} s, {big_json['rss']:.0f} MB). 'same proposal': the "
               "index's proposal compared in-process with the whole parse's (spec, every guess, every skipped "
               "endpoint); tests/catalog/openapi/test_indexed_yaml.py checks every vendored document so in two "
               "YAML layouts. `NAME.vendored.yaml` is the trimmed test copy written as YAML."),
              ("- Parsed whole, PyYAML creates every node and object through Python even with libyaml's C parser: "
               "about 90% of the time, mostly for operations other than GET and schemas no GET response names. The "
               "index cuts the text at the keys' indentation and parses the rest only when a `$ref` reaches it. "
               "Layouts it does not follow (anchors and aliases, tags, flow style, several documents) are parsed "
               "whole, as before."),
              "<!-- /section:openapi -->"]
    text = "\n".join(lines)
    print(text)
    if args.write:
        results = ROOT / "bench" / "RESULTS.md"
        current = results.read_text()
        pattern = re.compile(r"<!-- section:openapi -->.*?<!-- /section:openapi -->", re.DOTALL)
        results.write_text(pattern.sub(lambda _: text, current) if pattern.search(current)
                           else current.rstrip("\n") + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
