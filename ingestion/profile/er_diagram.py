"""The entity-relationship diagram of the sources, from declared and inferred references.

`svg` draws one column of tables per source with their key columns and an arrow per
reference (dashed when inferred, red when ids match nothing); `docs_block` writes the
same as Markdown for a dbt `{% docs %}` block (dbt docs renders no scripts or diagrams).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ingestion.profile.records import Profile, Relation

DOCS_BLOCK = "sources_er_diagram"
BOX_WIDTH = 230
COLUMN_GAP = 90
HEADER = 22
ROW = 16
BOX_GAP = 26
MARGIN = 20
# Room left of the first column for the loops of references within one source.
LEFT = 70


@dataclass(frozen=True)
class _Box:
    source: str
    table: str
    rows: tuple[tuple[str, str], ...]  # (column, "PK" | "FK")
    x: float
    y: float

    @property
    def height(self) -> float:
        return HEADER + ROW * len(self.rows) + 6

    def row_y(self, column: str) -> float:
        names = [name for name, _ in self.rows]
        index = names.index(column) if column in names else 0
        return self.y + HEADER + ROW * index + ROW / 2 + 2


def _entities(profile: Profile) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Every table in a reference or profiled, with its key and referencing columns."""
    entities: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for table in profile.tables:
        entities[(table.source, table.name)] = [(c, "PK") for c in table.primary_key]
    for relation in profile.relations:
        parent = entities.setdefault((relation.parent_source, relation.parent_table), [])
        for column in relation.parent_columns:
            if (column, "PK") not in parent:
                parent.insert(0, (column, "PK"))
        child = entities.setdefault((relation.child_source, relation.child_table), [])
        for column in relation.child_columns:
            if not any(name == column for name, _ in child):
                child.append((column, "FK"))
    return entities


def _layout(profile: Profile) -> dict[tuple[str, str], _Box]:
    entities = _entities(profile)
    sources = list(profile.sources) + sorted({s for s, _ in entities} - set(profile.sources))
    boxes = {}
    for index, source in enumerate(sources):
        y = MARGIN + 16.0
        for (owner, table), rows in sorted(entities.items()):
            if owner != source:
                continue
            box = _Box(source, table, tuple(rows), LEFT + index * (BOX_WIDTH + COLUMN_GAP), y)
            boxes[(source, table)] = box
            y += box.height + BOX_GAP
    return boxes


def svg(profile: Profile) -> str:
    """The diagram as an inline SVG element."""
    boxes = _layout(profile)
    if not boxes:
        return ""
    width = max(box.x for box in boxes.values()) + BOX_WIDTH + MARGIN
    height = max(box.y + box.height for box in boxes.values()) + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" role="img"'
        ' aria-label="Entity-relationship diagram of the sources">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"'
        ' fill="context-stroke"/></marker></defs>',
    ]
    sources = sorted({(box.x, box.source) for box in boxes.values()})
    for x, source in sources:
        parts.append(
            f'<text x="{x:.0f}" y="{MARGIN + 4}" font-size="13" font-weight="bold"'
            f' fill="#333">{escape(source)}</text>'
        )
    for relation in profile.relations:
        parts.append(_edge(relation, boxes))
    for box in boxes.values():
        parts.append(_box(box))
    parts.append("</svg>")
    return "".join(parts)


def _box(box: _Box) -> str:
    parts = [
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{BOX_WIDTH}" height="{box.height:.0f}"'
        ' rx="4" fill="#fff" stroke="#777"/>',
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{BOX_WIDTH}" height="{HEADER}" rx="4"'
        ' fill="#e6edf5" stroke="#777"/>',
        f'<text x="{box.x + 8:.0f}" y="{box.y + 15:.0f}" font-size="12" font-weight="bold"'
        f' fill="#222">{escape(box.table)}</text>',
    ]
    for name, role in box.rows:
        y = box.row_y(name) + 4
        parts.append(
            f'<text x="{box.x + 8:.0f}" y="{y:.0f}" font-size="11" fill="#333">'
            f"{escape(name)}</text>"
            f'<text x="{box.x + BOX_WIDTH - 8:.0f}" y="{y:.0f}" font-size="10" fill="#777"'
            f' text-anchor="end">{role}</text>'
        )
    return "".join(parts)


def _edge(relation: Relation, boxes: dict[tuple[str, str], _Box]) -> str:
    child = boxes[(relation.child_source, relation.child_table)]
    parent = boxes[(relation.parent_source, relation.parent_table)]
    y1 = child.row_y(relation.child_columns[0])
    y2 = parent.row_y(relation.parent_columns[0])
    if parent.x > child.x:
        x1, x2, bend1, bend2 = child.x + BOX_WIDTH, parent.x, 40.0, -40.0
    elif parent.x < child.x:
        x1, x2, bend1, bend2 = child.x, parent.x + BOX_WIDTH, -40.0, 40.0
    else:
        x1, x2, bend1, bend2 = child.x, parent.x, -45.0, -45.0
    colour = "#c0392b" if relation.orphan_ids else "#4a78b0"
    dash = "" if relation.kind == "declared" else ' stroke-dasharray="5 3"'
    return (
        f'<path d="M {x1:.0f} {y1:.0f} C {x1 + bend1:.0f} {y1:.0f}, {x2 + bend2:.0f} {y2:.0f},'
        f' {x2:.0f} {y2:.0f}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}'
        f' marker-end="url(#arrow)"><title>{escape(_describe(relation))}</title></path>'
    )


def _describe(relation: Relation) -> str:
    return f"{relation.child} -> {relation.parent} ({relation.kind}{_orphan_text(relation)})"


def _orphan_text(relation: Relation) -> str:
    if relation.orphan_ids is None:
        return ", enforced by the database" if relation.kind == "declared" else ", not checked"
    sampled = " in a sample" if relation.sampled else ""
    return f", {relation.orphan_ids:,} of {relation.checked_ids:,} ids{sampled} match nothing"


def relations_table(relations: Sequence[Relation]) -> list[str]:
    """The references as Markdown table lines."""
    lines = ["| from | to | how | ids matching nothing |", "| --- | --- | --- | --- |"]
    for relation in relations:
        if relation.orphan_ids is None:
            orphans = "enforced" if relation.kind == "declared" else "not checked"
        else:
            orphans = f"{relation.orphan_ids:,} of {relation.checked_ids:,}"
            orphans += " (sampled)" if relation.sampled else ""
        lines.append(f"| {relation.child} | {relation.parent} | {relation.kind} | {orphans} |")
    return lines


def tree(profile: Profile) -> list[str]:
    """Each referenced table with the columns that point at it, as indented text lines."""
    lines = []
    parents = sorted(
        {(r.parent_source, r.parent_table, r.parent_columns) for r in profile.relations}
    )
    for source, table, columns in parents:
        lines.append(f"{source}.{table} ({', '.join(columns)})")
        pointing = [
            r for r in profile.relations if (r.parent_source, r.parent_table) == (source, table)
        ]
        for index, relation in enumerate(pointing):
            branch = "└──" if index == len(pointing) - 1 else "├──"
            lines.append(f"  {branch} {relation.child}  [{relation.kind}{_orphan_text(relation)}]")
    return lines


def docs_block(profile: Profile) -> str:
    """A dbt `{% docs sources_er_diagram %}` block with the references as text."""
    lines = [
        f"{{% docs {DOCS_BLOCK} %}}",
        "How the source tables refer to each other: foreign keys the databases declare, and"
        " references `ingestion profile` inferred from column names and values"
        f" (profiled {profile.generated_at}). Under each referenced table and key are the"
        " columns that refer to it.",
        "",
        "```text",
        *tree(profile),
        "```",
        "",
        *relations_table(profile.relations),
        "{% enddocs %}",
    ]
    return "\n".join(lines) + "\n"
