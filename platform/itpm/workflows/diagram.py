"""A workflow drawn as SVG: its states in columns by distance from the initial one, its transitions as arrows.

Drawn on the server, as text: no script and no library in the browser. States
are coloured by category; a transition with an approval chain is dashed.
"""

from __future__ import annotations

from html import escape

from itpm.workflows.spec import WorkflowSpec

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 140, 44, 130, 40, 30
REJECTED = {"en": "rejected", "zh": "驳回"}
COLOURS = {
    "open": "#5bc0de",
    "in_progress": "#337ab7",
    "waiting": "#f0ad4e",
    "done": "#5cb85c",
    "cancelled": "#999999",
}


def layers(workflow: WorkflowSpec) -> dict[str, int]:
    """Each state's column: its distance (in transitions) from the initial state; unreachable ones last."""
    depth = {workflow.initial: 0}
    todo = [workflow.initial]
    while todo:
        state = todo.pop(0)
        for transition in workflow.leaving(state):
            if transition.target in workflow.states and transition.target not in depth:
                depth[transition.target] = depth[state] + 1
                todo.append(transition.target)
    last = max(depth.values(), default=0) + 1
    return {name: depth.get(name, last) for name in workflow.states}


def draw(workflow: WorkflowSpec, language: str = "en") -> str:
    columns = layers(workflow)
    slots: dict[int, list[str]] = {}
    for name in workflow.states:
        slots.setdefault(columns[name], []).append(name)
    place = {}
    for column, names in slots.items():
        for row, name in enumerate(names):
            place[name] = (MARGIN + column * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y) + 20)
    width = MARGIN * 2 + (max(slots) + 1) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + max(len(n) for n in slots.values()) * (BOX_H + GAP_Y) + 20 + BOX_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="itpm-workflow" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(workflow.body["title"][language])}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        '<style>text{font-family:"Helvetica Neue",Arial,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:12px}.label{fill:#333;font-size:11px}</style>',
    ]
    drawn: dict[tuple[str, str], int] = {}
    labels: list[str] = []  # drawn last, over the boxes
    for transition in workflow.transitions.values():
        if transition.target not in place:
            continue
        for source in transition.sources:
            if source not in place:
                continue
            count = drawn.get((source, transition.target), 0)
            drawn[(source, transition.target)] = count + 1
            path, label = _arrow(
                place[source],
                place[transition.target],
                transition.title[language],
                transition.approval is not None,
                count,
            )
            parts.append(path)
            labels.append(label)
            rejected_to = transition.approval.rejected_to if transition.approval else None
            if rejected_to in place:
                count = drawn.get((source, rejected_to), 0)
                drawn[(source, rejected_to)] = count + 1
                path, label = _arrow(
                    place[source], place[rejected_to], REJECTED[language], False, count, "#c9302c"
                )
                parts.append(path)
                labels.append(label)
    for name, state in workflow.states.items():
        x, y = place[name]
        colour = COLOURS.get(state.category, "#777")
        initial = ' stroke="#222" stroke-width="2.5"' if name == workflow.initial else ""
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{colour}"{initial}/>'
        )
        parts.append(
            f'<text x="{x + BOX_W / 2}" y="{y + BOX_H / 2 + 4}" text-anchor="middle" fill="#fff">{escape(state.title[language])}</text>'
        )
    parts.extend(labels)
    parts.append("</svg>")
    return "\n".join(parts)


def _arrow(
    start: tuple[int, int], end: tuple[int, int], label: str, approval: bool, nth: int, colour: str = "#555"
) -> tuple[str, str]:
    """The path of an arrow, and its label."""
    (x1, y1), (x2, y2) = start, end
    if start == end:  # a transition back to its own state: a loop above the box
        cx, top = x1 + BOX_W / 2, y1
        path = f"M{cx - 20},{top} C{cx - 30},{top - 40} {cx + 30},{top - 40} {cx + 20},{top}"
        lx, ly = cx, top - 32
    else:
        forward = x2 > x1
        sx = x1 + BOX_W if forward else x1
        ex = x2 if forward else x2 + BOX_W
        if x1 == x2:  # same column: leave from the right, come back in on the right
            sx, ex = x1 + BOX_W, x2 + BOX_W
        sy, ey = y1 + BOX_H / 2, y2 + BOX_H / 2
        if forward:
            bend = 28 + 22 * nth if (x1 == x2 or nth) else 0
        else:  # back arrows dip below the boxes they pass
            bend = -(BOX_H + 18 * nth)
        mx, my = (sx + ex) / 2, (sy + ey) / 2 - bend
        if x1 == x2:
            mx += 60
        path = f"M{sx},{sy} Q{mx},{my} {ex},{ey}"
        # the label sits a third of the way along, so arrows into one state keep theirs apart
        t = 0.35
        lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * mx + t**2 * ex
        ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * my + t**2 * ey - 5
    dash = ' stroke-dasharray="5,3"' if approval else ""
    mark = " ✓" if approval else ""
    return (
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>',
        f'<text class="label" x="{lx:.0f}" y="{ly:.0f}" text-anchor="middle" fill="{colour}">{escape(label + mark)}</text>',
    )
