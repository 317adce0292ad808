"""What the wizard renders, as HTML strings: Markdown messages, highlighted code, the plan as a
table, and previews where nested JSON collapses to one short line (issue 15, item 8)."""

from __future__ import annotations

import pandas as pd

from purelink_jupyter.render import (
    compact_table,
    frame_html,
    highlight,
    markdown_block,
    markdown_inline,
    plan_html,
)


def test_markdown_messages_show_no_literal_backticks_and_escape_html():
    out = markdown_inline("Run `purelink inspect --tables` **now** <script> [docs](https://example.org/a)")
    assert "<code>purelink inspect --tables</code>" in out and "<b>now</b>" in out and "`" not in out
    assert "&lt;script&gt;" in out and "<a href='https://example.org/a'" in out
    block = markdown_block("Answer:\n- change `page_size`\n- retry\n  indented `x`")
    assert block.count("<li>") == 2 and "<code>page_size</code>" in block and "margin-left:12px" in block


def test_code_is_highlighted_with_pygments():
    out = highlight('import purelink\nresult = purelink.run("x")\n')
    assert "purelink-highlight" in out and "<span style=" in out and "&quot;x&quot;" in out


def test_nested_json_collapses_to_one_line_with_the_full_value_on_hover():
    records = [{"id": "cus_1", "address": {"city": "Lyon", "country": "FR", "line1": "1 rue", "state": None},
                "tags": ["a", "b", "c"], "note": "x" * 100}]
    out = compact_table(records)
    assert "{city, country, line1, …}" in out and "[3 items]" in out
    assert "x" * 100 not in out.split("title=")[0]  # cut in the cell ...
    assert "title='" in out and "Lyon" in out  # ... whole on hover
    frame = pd.DataFrame({"id": ["cus_1"], "address": ['{"city": "Lyon", "country": "FR"}']})
    assert "{city, country}" in frame_html(frame)  # JSON text from DuckDB collapses too


def test_the_plan_reads_as_a_table():
    text = ("Plan for s (POC, once)\n  rate limit   25 requests/s\n  customers -> stripe.customers (3 columns)\n"
            "    validations id: required\n  production\n    - schedule `daily`\n")
    out = plan_html(text)
    assert "<pre" not in out and ">rate limit</td><td>25 requests/s<" in out
    assert ">validations</td><td>id: required<" in out and "<code>daily</code>" in out
    assert "font-weight:bold" in out.split("customers -&gt;")[0]
