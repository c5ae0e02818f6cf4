"""Colours: a categorical palette for inputs and runs, a ramp for ranks, and the heatmap's colour scale."""

from __future__ import annotations

PALETTE = ("#3b5bdb", "#f76707", "#0ca678", "#7048e8", "#e8590c", "#1098ad", "#c92a2a", "#74b816",
           "#495057", "#ae3ec9", "#f59f00", "#5c940d")
INTRUDER = "#e6007e"  # magenta, as the paper outlines intruder columns
# |cos| 0 → 1: near-white through blue to deep navy.
HEAT_STOPS = ((0.0, (247, 249, 252)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)),
              (0.75, (33, 113, 181)), (1.0, (8, 37, 94)))
# ranks 1 → k: dark to light along a viridis-like ramp that stays readable on white.
RANK_STOPS = ((0.0, (68, 1, 84)), (0.35, (49, 104, 142)), (0.7, (53, 183, 121)), (1.0, (180, 200, 40)))


def categorical(i: int) -> str:
    """The i-th colour of the palette (it repeats after 12)."""
    return PALETTE[i % len(PALETTE)]


def _ramp(stops, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(stops, stops[1:], strict=False):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b = (round(a + (b_ - a) * f) for a, b_ in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    r, g, b = stops[-1][1]
    return f"#{r:02x}{g:02x}{b:02x}"


def heat(value: float) -> str:
    """The heatmap colour of a |cos| in [0, 1]."""
    return _ramp(HEAT_STOPS, value)


def rank_color(j: int, count: int) -> str:
    """The colour of rank j (0-based) of `count` ranks."""
    return _ramp(RANK_STOPS, j / max(count - 1, 1))

