"""HTML the wizard shows, rendered as JupyterLab users expect: Markdown messages (`code`, **bold**,
links), highlighted code (Pygments, which IPython already brings), the design plan as a readable
table, and compact previews where nested JSON collapses to a one-line summary.

Pure functions from data to HTML strings, so they are tested without a browser.
"""

from __future__ import annotations

import html
import json
import re

#: Styles of the wizard, scoped to its root class. Labels and buttons size to their text instead of
#: ipywidgets' fixed widths (which cut "Ask the assistant" to "Ask the assist..."), long labels wrap
#: rather than end in an ellipsis, and a parent column that is partly ticked shows a dash (mixed).
WIZARD_CSS = """
<style>
.purelink-wizard .jupyter-button { width: auto; max-width: none; padding: 0 12px; align-self: flex-start; }
.purelink-wizard .widget-label { white-space: normal; overflow: visible; text-overflow: clip; }
.purelink-wizard .widget-radio { display: flex; align-items: flex-start; }
.purelink-wizard .widget-radio > .widget-label { text-align: right; flex: none; margin-right: 8px; }
.purelink-wizard .widget-label-basic span, .purelink-wizard .widget-radio-box label {
  white-space: nowrap; overflow: visible; text-overflow: clip; }
.purelink-wizard .widget-radio-box { flex-direction: row; flex-wrap: wrap; gap: 0 16px; align-items: center;
  min-height: var(--jp-widgets-inline-height); }
.purelink-wizard .widget-radio-box label { margin: 0; }
.purelink-wizard .purelink-crumb.jupyter-button { background: none; border: none; box-shadow: none;
  color: #2e7d32; text-decoration: underline; padding: 0 4px; height: 24px; }
.purelink-wizard .purelink-crumb.purelink-crumb-here { color: #1565c0; font-weight: bold; text-decoration: none; }
.purelink-wizard .purelink-crumb.purelink-crumb-later { color: #999; text-decoration: none; }
.purelink-wizard .purelink-mixed input[type=checkbox] { appearance: none; -webkit-appearance: none;
  width: 13px; height: 13px; margin: 0 4px 0 0; border-radius: 2px; background: #1976d2;
  border: 1px solid #1976d2; position: relative; flex: none; }
.purelink-wizard .purelink-mixed input[type=checkbox]::after { content: ""; position: absolute;
  left: 2px; right: 2px; top: 5px; height: 2px; background: white; }
.purelink-wizard .purelink-compact td, .purelink-wizard .purelink-compact th { white-space: nowrap;
  max-width: 260px; overflow: hidden; text-overflow: ellipsis; padding: 2px 8px; line-height: 1.3;
  text-align: left; vertical-align: top; }
.purelink-wizard .purelink-plan td { padding: 1px 8px; vertical-align: top; white-space: normal;
  word-break: normal; overflow-wrap: break-word; }
.purelink-wizard table td, .purelink-wizard table th { line-height: 1.45; }
.purelink-wizard .purelink-md { line-height: 1.45; }
.purelink-wizard .purelink-column-tree .widget-checkbox { height: 22px; line-height: 22px; }
.purelink-wizard .purelink-column-tree .widget-hbox { min-height: 0; }
.purelink-wizard .purelink-column-tree .widget-html, .purelink-wizard .purelink-column-tree .widget-html-content {
  height: 22px; line-height: 22px; }
.purelink-wizard .widget-html-content li { line-height: 1.45; margin: 2px 0; }
.purelink-wizard .widget-html-content a { color: #1565c0; text-decoration: underline; }
.purelink-wizard .purelink-highlight pre { margin: 0; white-space: pre; overflow: auto; max-height: 360px;
  font-size: 12px; line-height: 1.4; }
</style>
"""


def esc(value) -> str:
    return html.escape(str(value))


def table_html(headers: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px;vertical-align:top'>{c}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table class='{cls}' style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>{body}</table>"


def summary_of(value) -> str:
    """A value as one short line: nested objects and lists collapse to what they hold."""
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
        return f"{{{shown}}}" if keys else "{}"
    if isinstance(value, list | tuple):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def short(value, width: int = 40) -> str:
    text = summary_of(value)
    return esc(text if len(text) <= width else text[:width - 1] + "…")


def cell_html(value, width: int = 40) -> str:
    """A preview cell: the short form, the full value on hover."""
    full = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"<span title='{esc(full[:2000])}'>{short(value, width)}</span>"


def compact_table(records: list[dict], columns: list[str] | None = None, cls: str = "purelink-compact",
                  width: int = 40) -> str:
    """Rows one line tall: nested JSON collapsed to `{a, b, …}` / `[3 items]`, full value on hover."""
    columns = columns or list(dict.fromkeys(k for r in records for k in r))
    rows = [[cell_html(_plain(r.get(c)), width) for c in columns] for r in records]
    return table_html(columns, rows, cls)


def _plain(value):
    """A DataFrame cell as JSON-like data (numpy arrays, pandas NA, timestamps)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    try:
        import pandas as pd

        if not isinstance(value, list | dict) and pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    if isinstance(value, list | dict | int | float | bool | str) or value is None:
        return value
    return str(value)


def frame_html(frame, rows: int = 5) -> str:
    """The first rows of a pandas DataFrame, compact."""
    head = frame.head(rows)
    return compact_table(head.to_dict("records"), [str(c) for c in head.columns])


_INLINE = [
    (re.compile(r"`([^`]+)`"), lambda m: f"<code>{m[1]}</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), lambda m: f"<b>{m[1]}</b>"),
    (re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)"),
     lambda m: f"<a href='{m[2]}' target='_blank' rel='noopener'>{m[1]}</a>"),
]


def markdown_inline(text: str) -> str:
    """Markdown as messages use it (`code`, **bold**, [links](url)), escaped first."""
    out = esc(text)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def markdown_block(text: str) -> str:
    """Several lines of Markdown-ish text (assistant answers): paragraphs, `- ` lists, inline marks.
    Indented lines keep their layout."""
    parts: list[str] = []
    items: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("- ", "* ")):
            items.append(f"<li>{markdown_inline(stripped[2:])}</li>")
            continue
        if items:
            parts.append("<ul style='margin:2px 0 2px 18px;padding:0'>" + "".join(items) + "</ul>")
            items = []
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        parts.append(f"<div style='margin-left:{indent * 6}px'>{markdown_inline(stripped)}</div>")
    if items:
        parts.append("<ul style='margin:2px 0 2px 18px;padding:0'>" + "".join(items) + "</ul>")
    return "<div class='purelink-md'>" + "".join(parts) + "</div>"


def highlight(code: str, language: str = "python") -> str:
    """Code highlighted with Pygments (inline styles: the colours hold in any theme's HTML output)."""
    try:
        from pygments import highlight as pyg
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:  # IPython brings Pygments; without it, plain but still readable
        return f"<div class='purelink-highlight'><pre>{esc(code)}</pre></div>"
    body = pyg(code, get_lexer_by_name(language), HtmlFormatter(noclasses=True, style="default", nobackground=True))
    return f"<div class='purelink-highlight' style='background:#f6f8fa;padding:6px 8px;border-radius:4px'>{body}</div>"


PLAN_KEYS = ("rate limit", "retries", "storage", "batching", "columns", "extraction", "pagination", "writes",
             "validations", "suggested", "indexes", "note")


def plan_html(text: str) -> str:
    """The design plan (`Plan.text()`: a title, then `key   value` lines indented by level) as a
    table whose values wrap between words; a stream's line and `production` are headings."""
    lines = text.splitlines()
    if not lines:
        return ""
    rows = []
    for line in lines[1:]:
        indent = (len(line) - len(line.lstrip())) // 2
        body = line.strip()
        key = next((k for k in PLAN_KEYS if body == k or body.startswith(k + " ")), None)
        pad = f"padding-left:{8 + 14 * max(indent - 1, 0)}px"
        if key is None and (body.startswith("- ")):
            rows.append(f"<tr><td style='{pad}'></td><td>• {markdown_inline(body[2:])}</td></tr>")
        elif key is None:  # a heading: `customers -> stripe.customers (25 columns)`, `production`
            rows.append(f"<tr><td colspan='2' style='{pad};font-weight:bold;padding-top:6px'>"
                        f"{markdown_inline(body)}</td></tr>")
        else:
            rows.append(f"<tr><td style='{pad};color:#555;white-space:nowrap'>{esc(key)}</td>"
                        f"<td>{markdown_inline(body[len(key):].strip())}</td></tr>")
    return (f"<div class='purelink-plan'><div style='font-weight:bold;margin-bottom:4px'>{esc(lines[0])}</div>"
            f"<table style='border-collapse:collapse;font-size:12px'>{''.join(rows)}</table></div>")
