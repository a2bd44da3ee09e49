"""The dashboard's charts, drawn here as SVG: no script draws them, and every text in
them is escaped (job names, results and events come from users).

Each function returns markup ready for a template. Sizes are the SVG's own units; the
stylesheet scales a chart to its container's width (``viewBox``), so one drawing fits
a phone and a wide screen. Colours come from CSS classes, except heat-map cells, whose
fill is their value's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from qlambda.dashboard.timeline import Timeline

FONT = 11


def _svg(width: float, height: float, label: str, body: list[str], css: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{css}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: object, anchor: str = "start", css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(str(text))}</text>'


def _rect(x: float, y: float, w: float, h: float, css: str, title: str = "", fill: str = "") -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    colour = f' fill="{fill}"' if fill else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.8):.1f}" height="{h:.1f}" '
        f'class="{css}"{colour}>{tip}</rect>'
    )


def clock(ts: float) -> str:
    """``2026-01-01 12:00:03`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def seconds_text(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


# ------------------------------------------------------------------------------ Gantt
def gantt(timeline: Timeline, width: float = 960) -> Markup:
    """The job's lanes over its life, time axis in seconds from its submission."""
    left, right, lane_height, top = 130.0, 16.0, 26.0, 22.0
    height = top + lane_height * len(timeline.lanes) + 26
    span = max(timeline.end - timeline.start, 1e-3)
    scale = (width - left - right) / span

    def x(ts: float) -> float:
        return left + (ts - timeline.start) * scale

    body = []
    for tick in _ticks(0.0, span, 6):
        px = left + tick * scale
        body.append(
            f'<line x1="{px:.1f}" y1="{top - 4}" x2="{px:.1f}" y2="{height - 22}" class="grid"/>'
        )
        body.append(_text(px, height - 8, seconds_text(tick) if tick else "0", "middle", "axis"))
    for row, lane in enumerate(timeline.lanes):
        y = top + row * lane_height
        body.append(_text(left - 8, y + lane_height / 2 + 4, lane.name, "end", "lane"))
        for item in lane.spans:
            title = (
                f"{item.label}: {seconds_text(item.end - item.start)} from "
                f"{clock(item.start)} UTC{' (still going)' if item.open else ''}"
            )
            css = f"span-{item.kind}" + (" open" if item.open else "")
            body.append(
                _rect(
                    x(item.start),
                    y + 4,
                    (item.end - item.start) * scale,
                    lane_height - 8,
                    css,
                    title,
                )
            )
        for mark in lane.marks:
            px = x(mark.ts)
            body.append(
                f'<g class="mark-{mark.kind}"><title>{escape(mark.label)} at '
                f"{clock(mark.ts)} UTC</title>"
                f'<path d="M{px:.1f},{y + 2:.1f} l5,{lane_height / 2 - 2:.1f} '
                f'l-5,{lane_height / 2 - 2:.1f} l-5,-{lane_height / 2 - 2:.1f} z"/></g>'
            )
    label = f"timeline of the job over {seconds_text(span)}"
    return _svg(width, height, label, body, "chart gantt")


# ---------------------------------------------------------------------------- bars
def bars(labels: Sequence[str], values: Sequence[float], label: str, width: float = 560) -> Markup:
    """A histogram: one bar per label (counts of a sampler's outcomes)."""
    left, bottom, top = 48.0, 46.0, 12.0
    height = 240.0
    top_value = max(values, default=0) or 1
    step = (width - left - 8) / max(len(values), 1)
    scale = (height - top - bottom) / top_value
    body = []
    for tick in _ticks(0, top_value, 4):
        y = height - bottom - tick * scale
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" class="grid"/>')
        body.append(_text(left - 4, y + 4, f"{tick:g}", "end", "axis"))
    for i, (name, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * step
        h = value * scale
        body.append(
            _rect(x + step * 0.1, height - bottom - h, step * 0.8, h, "bar", f"{name}: {value:g}")
        )
        if len(values) <= 32:
            body.append(
                f'<text x="{x + step / 2:.1f}" y="{height - bottom + 12:.1f}" text-anchor="end" '
                f'class="axis" transform="rotate(-40 {x + step / 2:.1f} '
                f'{height - bottom + 12:.1f})">'
                f"{escape(name)}</text>"
            )
    return _svg(width, height, label, body)


# ------------------------------------------------------------------------ series
def series(
    lines: dict[str, list[tuple[float, float]]],
    label: str,
    y_max: float | None = None,
    y_label: str = "",
    width: float = 960,
    height: float = 220,
    percent: bool = False,
) -> Markup:
    """Lines over time (x: seconds since the epoch), one per name, with a legend."""
    left, right, top, bottom = 46.0, 10.0, 10.0, 40.0
    points = [p for line in lines.values() for p in line]
    if not points:
        return _svg(width, 40, label, [_text(8, 24, "nothing recorded yet", css="axis")])
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1
    top_value = y_max if y_max is not None else (max(p[1] for p in points) or 1)
    sx = (width - left - right) / (x1 - x0)
    sy = (height - top - bottom) / top_value
    body = []
    for tick in _ticks(0, top_value, 4):
        y = height - bottom - tick * sy
        text = f"{tick:.0%}" if percent else f"{tick:g}"
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
        )
        body.append(_text(left - 4, y + 4, text, "end", "axis"))
    body.append(_text(left, height - bottom + 14, clock(x0)[11:16] + " UTC", "start", "axis"))
    body.append(_text(width - right, height - bottom + 14, clock(x1)[11:16], "end", "axis"))
    for index, (name, line) in enumerate(lines.items()):
        coords = " ".join(
            f"{left + (t - x0) * sx:.1f},{height - bottom - v * sy:.1f}" for t, v in line
        )
        body.append(
            f'<polyline points="{coords}" class="line line-{index % 6}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        lx = left + index * 130
        body.append(
            f'<rect x="{lx:.0f}" y="{height - 14}" width="10" height="10" '
            f'class="key line-{index % 6}"/>'
        )
        body.append(_text(lx + 14, height - 5, name, css="axis"))
    if y_label:
        body.append(_text(left + 4, top + 10, y_label, css="axis"))
    return _svg(width, height, label, body)


def sparkline(
    values: Sequence[float], label: str, width: float = 160, height: float = 32
) -> Markup:
    if len(values) < 2:
        return _svg(
            width, height, label, [_text(2, height - 10, "no drift yet", css="axis")], "spark"
        )
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 3 - (v - low) / span * (height - 6):.1f}"
        for i, v in enumerate(values)
    )
    return _svg(
        width, height, label, [f'<polyline points="{coords}" class="line line-0"/>'], "spark"
    )


# ------------------------------------------------------------------------ boxes
def boxes(
    groups: list[dict[str, Any]],
    label: str,
    y_label: str = "job time",
    width: float = 720,
    height: float = 300,
) -> Markup:
    """Box plots on a log axis: ``groups`` = [{"name", "boxes": [{"name", "q05", "q25",
    "q50", "q75", "q95", "n"}]}], boxes of a group side by side, whiskers at 5% / 95%."""
    left, right, top, bottom = 60.0, 10.0, 14.0, 58.0
    values = [b[k] for g in groups for b in g["boxes"] for k in ("q05", "q95") if b[k] and b[k] > 0]
    if not values:
        return _svg(
            width, 40, label, [_text(8, 24, "no job finished in the simulation", css="axis")]
        )
    low, high = math.log10(min(values)), math.log10(max(values))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    sy = (height - top - bottom) / (high - low)

    def y(value: float) -> float:
        return height - bottom - (math.log10(max(value, 10**low)) - low) * sy

    body = []
    steps = (1, 2, 5) if high - low < 2 else (1,)  # few decades: 1, 2, 5 x 10^k
    ticks = [
        math.log10(m) + e
        for e in range(math.floor(low), math.ceil(high) + 1)
        for m in steps
        if low <= math.log10(m) + e <= high
    ]
    for exponent in ticks:
        py = height - bottom - (exponent - low) * sy
        body.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{width - right}" y2="{py:.1f}" class="grid"/>'
        )
        body.append(_text(left - 4, py + 4, seconds_text(10.0**exponent), "end", "axis"))
    slot = (width - left - right) / max(len(groups), 1)
    names = list(dict.fromkeys(b["name"] for g in groups for b in g["boxes"]))
    for g, group in enumerate(groups):
        count = max(len(group["boxes"]), 1)
        box_width = min(slot * 0.8 / count, 60.0)
        for b, box in enumerate(group["boxes"]):
            x = left + g * slot + (slot - box_width * count) / 2 + b * box_width
            mid = x + box_width / 2
            css = f"box line-{names.index(box['name']) % 6}"
            tip = (
                f"{group['name']}, {box['name']}: median {seconds_text(box['q50'])}, "
                f"quartiles {seconds_text(box['q25'])}-{seconds_text(box['q75'])}, "
                f"5-95% {seconds_text(box['q05'])}-{seconds_text(box['q95'])}, {box['n']} jobs"
            )
            body.append(
                f'<g class="{css}"><title>{escape(tip)}</title>'
                f'<line x1="{mid:.1f}" y1="{y(box["q05"]):.1f}" x2="{mid:.1f}" '
                f'y2="{y(box["q95"]):.1f}" class="whisker"/>'
                f'<rect x="{x + box_width * 0.1:.1f}" y="{y(box["q75"]):.1f}" '
                f'width="{box_width * 0.8:.1f}" '
                f'height="{max(y(box["q25"]) - y(box["q75"]), 1):.1f}"/>'
                f'<line x1="{x + box_width * 0.1:.1f}" y1="{y(box["q50"]):.1f}" '
                f'x2="{x + box_width * 0.9:.1f}" '
                f'y2="{y(box["q50"]):.1f}" class="median"/></g>'
            )
        body.append(
            _text(left + (g + 0.5) * slot, height - bottom + 16, group["name"], "middle", "axis")
        )
    for i, name in enumerate(names):
        lx = left + i * 90
        body.append(
            f'<rect x="{lx:.0f}" y="{height - 18}" width="10" height="10" '
            f'class="key line-{i % 6}"/>'
        )
        body.append(_text(lx + 14, height - 9, name, css="axis"))
    body.append(_text(4, top + 4, y_label, css="axis"))
    return _svg(width, height, label, body)


# ---------------------------------------------------------------------- heat map
# matplotlib's magma_r, sampled: pale for 0, dark for 1 (the simulator's figures' scale)
_MAGMA_R = [
    (252, 253, 191), (254, 176, 120), (241, 96, 93), (183, 55, 121),
    (114, 31, 129), (44, 17, 95), (0, 0, 4),
]  # fmt: skip


def _colour(value: float) -> str:
    v = min(max(value, 0.0), 1.0) * (len(_MAGMA_R) - 1)
    i = min(int(v), len(_MAGMA_R) - 2)
    f = v - i
    a, b = _MAGMA_R[i], _MAGMA_R[i + 1]
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * f):02x}" for k in range(3))


def heat_map(
    rows: Sequence[str],
    columns: Sequence[str],
    grid: Sequence[Sequence[float | None]],
    label: str,
    row_label: str,
    column_label: str,
    width: float = 560,
) -> Markup:
    """Values in [0, 1] (drop probabilities) as coloured cells with their numbers."""
    left, top, bottom = 90.0, 10.0, 44.0
    cell_w = (width - left - 10) / max(len(columns), 1)
    cell_h = min(36.0, 300.0 / max(len(rows), 1))
    height = top + cell_h * len(rows) + bottom
    body = []
    for r, name in enumerate(rows):
        y = top + r * cell_h
        body.append(_text(left - 6, y + cell_h / 2 + 4, name, "end", "axis"))
        for c, value in enumerate(grid[r]):
            x = left + c * cell_w
            if value is None:
                body.append(_rect(x, y, cell_w - 1, cell_h - 1, "cell empty", "no data"))
                continue
            body.append(
                _rect(
                    x,
                    y,
                    cell_w - 1,
                    cell_h - 1,
                    "cell",
                    f"{name}, {columns[c]}: {value:.3f}",
                    _colour(value),
                )
            )
            css = "cell-text dark" if value > 0.5 else "cell-text"
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, f"{value:.2f}", "middle", css))
    for c, name in enumerate(columns):
        body.append(
            _text(left + (c + 0.5) * cell_w, top + cell_h * len(rows) + 14, name, "middle", "axis")
        )
    body.append(_text(left + (width - left) / 2, height - 6, column_label, "middle", "axis"))
    body.append(_text(4, top + 10, row_label, css="axis"))
    return _svg(width, height, label, body)
