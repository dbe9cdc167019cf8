"""Charts drawn on the server as SVG: nothing is fetched when a page loads."""

from __future__ import annotations

from html import escape


def daily_bars(days: list[tuple[str, int, int]], width: int = 560, height: int = 160) -> str:
    """Created (light) and converted (dark) offers per day, with a text label per bar pair."""
    if not days:
        return ""
    top = max(max(created, converted) for _, created, converted in days) or 1
    slot = width / len(days)
    bars = []
    for n, (day, created, converted) in enumerate(days):
        x = n * slot
        for k, (value, colour) in enumerate(((created, "#9bb7e0"), (converted, "#1f4e8c"))):
            h = (height - 30) * value / top
            bars.append(
                f'<rect x="{x + 4 + k * (slot / 2 - 4):.1f}" y="{height - 20 - h:.1f}" width="{slot / 2 - 6:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(day)}: {value}</title></rect>'
            )
        place = f'x="{x + slot / 2:.1f}" y="{height - 5}" font-size="10" text-anchor="middle"'
        bars.append(f"<text {place}>{escape(day[5:])}</text>")
    label = "Offers created (light) and converted (dark) per day"
    return (
        f'<svg role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>'
    )
