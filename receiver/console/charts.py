"""Charts drawn on the server as SVG: nothing is fetched when a page loads."""

from __future__ import annotations

from html import escape

CREATED, CONVERTED = "#9bb7e0", "#1f4e8c"


def daily_bars(days: list[tuple[str, int, int]], width: int = 600, height: int = 190) -> str:
    """Created and converted offers per day: a y axis in offers (0, half, top), the days along x,
    and a legend; each bar's exact figure in its title."""
    if not days:
        return ""
    left, bottom, top_pad = 40, 36, 24
    top = max(max(created, converted) for _, created, converted in days) or 1
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    slot = plot_w / len(days)
    parts = [
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#555"/>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" stroke="#555"/>',
        f'<text x="4" y="{top_pad - 8}" font-size="10">offers</text>',
    ]
    for value in sorted({0, top // 2, top}):
        y = top_pad + plot_h - plot_h * value / top
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{value}</text>')
        parts.append(f'<line x1="{left - 3}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#555"/>')
    every = max(1, len(days) // 10)  # at most ten date labels however long the window
    for n, (day, created, converted) in enumerate(days):
        x = left + n * slot
        for k, (value, colour, what) in enumerate(((created, CREATED, "created"), (converted, CONVERTED, "converted"))):
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x + 2 + k * (slot / 2 - 2):.1f}" y="{top_pad + plot_h - h:.1f}" '
                f'width="{max(slot / 2 - 3, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(day)}: {value} {what}</title></rect>"
            )
        if n % every == 0:
            place = f'x="{x + slot / 2:.1f}" y="{top_pad + plot_h + 13}" font-size="10" text-anchor="middle"'
            parts.append(f"<text {place}>{escape(day[5:])}</text>")
    legend_y = height - 8
    for k, (colour, what) in enumerate(((CREATED, "created"), (CONVERTED, "converted"))):
        x = left + k * 90
        parts.append(f'<rect x="{x}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{legend_y + 1}" font-size="10">{what}</text>')
    label = "Offers created and converted per day"
    return (
        f'<svg role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
