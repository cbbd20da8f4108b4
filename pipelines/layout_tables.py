"""Tables used for page layout, told apart from data tables, and unwrapped into divs before extraction.

Older sites lay pages out with ``<table>``: a navigation cell beside a content cell, nested tables for boxes.
Extractors render every table as rows of ``| cell | cell |``, so such a page's prose comes out as one long
"table row" (or pipe-separated navigation) and the quality filters then drop it. Unwrapping layout tables
(table, row and cell become ``div``, ``class``/``id`` kept for the boilerplate heuristics) lets the extractor
see paragraphs and navigation blocks as it does on a div-based page; data tables are left alone.

The rule, per table (its own rows and cells, not those of tables nested in it), first match wins:
1. ``role="presentation"`` or ``role="none"``: layout (the author said so).
2. ``<th>``, ``<caption>``, ``<thead>``, ``role="table"|"grid"`` or a ``summary`` attribute: data.
3. It holds another table: layout (data tables do not nest tables).
4. No row has two cells: layout (a one-column table is a stack of boxes, not a grid).
5. A cell holds prose: ``>= PROSE_CHARS`` characters of text, or ``>= 2`` paragraph-level blocks
   (``p``, ``div``, ``ul``, ``ol``, ``h1``-``h6``, ``blockquote``, ``pre``, ``form``): layout.
6. At most ``FEW_ROWS`` rows whose cells are very uneven (the longest cell's text is ``>= UNEVEN`` times the
   shortest's and ``>= 80`` characters): layout (a sidebar beside a content column).
7. Otherwise: data (a grid of short, similar cells).
"""

from __future__ import annotations

from typing import Any

PROSE_CHARS = 250
FEW_ROWS = 3
UNEVEN = 8
_BLOCKS = frozenset({"p", "div", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "form"})
_SECTIONS = frozenset({"tbody", "thead", "tfoot"})
_UNWRAP = frozenset({"table", "tbody", "thead", "tfoot", "tr", "td", "th"})
_KEEP_ATTRS = ("class", "id")


def _tag(el: Any) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _rows(table: Any) -> list[Any]:
    rows = []
    for child in table:
        tag = _tag(child)
        if tag == "tr":
            rows.append(child)
        elif tag in _SECTIONS:
            rows.extend(c for c in child if _tag(c) == "tr")
    return rows


def _text_len(el: Any) -> int:
    return len(" ".join(el.text_content().split()))


def is_layout_table(table: Any) -> bool:
    """The documented rule above, on one lxml ``<table>`` element."""
    role = (table.get("role") or "").strip().lower()
    if role in ("presentation", "none"):
        return True
    if role in ("table", "grid") or table.get("summary"):
        return False
    rows = _rows(table)
    cells = [[c for c in row if _tag(c) in ("td", "th")] for row in rows]
    if any(_tag(c) in ("caption", "thead") for c in table) or any(_tag(c) == "th" for row in cells for c in row):
        return False
    if table.find(".//table") is not None:
        return True
    if not any(len(row) >= 2 for row in cells):
        return True
    for row in cells:
        for cell in row:
            if _text_len(cell) >= PROSE_CHARS:
                return True
            if sum(1 for el in cell.iterdescendants() if _tag(el) in _BLOCKS) >= 2:
                return True
    if len(rows) <= FEW_ROWS:
        for row in cells:
            lengths = [_text_len(c) for c in row]
            if len(lengths) >= 2 and max(lengths) >= 80 and max(lengths) >= UNEVEN * max(min(lengths), 1):
                return True
    return False


def unwrap_layout_tables(tree: Any) -> int:
    """Turn every layout table of an lxml tree into divs, in place; returns how many tables were unwrapped."""
    layout = {t for t in tree.iter("table") if is_layout_table(t)}
    # decide and collect first: renaming a table changes which table a row belongs to
    doomed = [el for el in tree.iter(*_UNWRAP) if (el in layout if _tag(el) == "table" else _owner(el) in layout)]
    for el in doomed:
        keep = {k: el.get(k) for k in _KEEP_ATTRS if el.get(k)}
        el.attrib.clear()
        el.attrib.update(keep)
        el.tag = "div"
    return len(layout)


def _owner(el: Any) -> Any:
    """The nearest enclosing ``<table>`` of a row, section or cell."""
    parent = el.getparent()
    while parent is not None and _tag(parent) != "table":
        parent = parent.getparent()
    return parent
