"""Small charts for the admin pages, drawn server-side as inline SVG (nothing is loaded from outside the page).
Every label goes through ``format_html``, so a metric or version name cannot inject markup."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 240, 90, 14


def sparkline(metric: str, points: list[tuple[str, float]], *, better: str = "higher") -> SafeString:
    """One metric across versions (oldest left): a line, a dot per version with its value as a tooltip, and the
    first and last values printed. ``better`` says which way is an improvement (for the caption)."""
    values = [value for _, value in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        x = PAD + index * step if len(points) > 1 else WIDTH / 2
        return round(x, 1), round(HEIGHT - PAD - (value - low) / span * (HEIGHT - 2 * PAD), 1)

    coordinates = [xy(i, value) for i, (_, value) in enumerate(points)]
    line = " ".join(f"{x},{y}" for x, y in coordinates)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" data-version="{}"><title>{}: {}</title></circle>',
        ((x, y, version, version, value) for (x, y), (version, value) in zip(coordinates, points)),
    )
    return format_html(
        '<figure class="metric-chart" data-metric="{}"><svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="img" aria-label="{} across {} versions, from {} to {}">'
        '<polyline points="{}" fill="none" stroke="currentColor" stroke-width="1.5"/>{}</svg>'
        "<figcaption>{} ({} is better): {} → {}</figcaption></figure>",
        metric,
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        metric,
        len(points),
        values[0],
        values[-1],
        line,
        dots,
        metric,
        better,
        values[0],
        values[-1],
    )
