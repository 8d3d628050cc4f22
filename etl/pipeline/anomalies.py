"""Anomaly scores, pure: how far a figure is from its own recent history, robustly.

The median and the median absolute deviation (MAD, scaled by 1.4826 to match a standard deviation on
normal data) are not moved by the odd outlier in the history itself. A steady history has a MAD of
zero, so every figure has a floor for its scale: a figure that never moved is not flagged for moving
by one.
"""

import itertools
import math
from dataclasses import dataclass
from statistics import median

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Score:
    value: float
    baseline: float
    score: float


def robust_score(*, value: float, history: list[float], floor: float, min_history: int) -> Score | None:
    """`value` against `history`: its distance from the median in robust deviations; None with too little history."""
    if len(history) < min_history:
        return None
    middle = median(history)
    spread = median(abs(h - middle) for h in history) * _MAD_TO_SIGMA
    scale = max(spread, floor)
    return Score(value=value, baseline=middle, score=round((value - middle) / scale, 2))


# Each run figure: (its floor of scale given the baseline, whether a fall is flagged too).
RUN_METRICS = {
    # A tenth of the usual rows, or ten times as many; a few percent either way is not news.
    "read": (lambda baseline: max(1.0, 0.05 * abs(baseline)), True),
    "rejected_fraction": (lambda baseline: 0.02, False),
    # Timings are noisy on a shared machine: a second, or a quarter of the usual, at least.
    "duration_seconds": (lambda baseline: max(1.0, 0.25 * baseline), False),
    "http_retries": (lambda baseline: 1.0, False),
}


def run_figure_score(
    *, metric: str, value: float, history: list[float], min_history: int, threshold: float
) -> Score | None:
    """The figure's score when it is past `threshold` (a fall counts only for figures where one is news)."""
    floor, both_ways = RUN_METRICS[metric]
    if len(history) < min_history:
        return None
    scored = robust_score(value=value, history=history, floor=floor(median(history)), min_history=min_history)
    if scored is None or (scored.score if not both_ways else abs(scored.score)) < threshold:
        return None
    return scored


# A series that never moved: a move of this log-fraction is one deviation (5%).
PRICE_MOVE_FLOOR = 0.05


def log_move(before: float, after: float) -> float | None:
    """|ln(after / before)|: a doubling and a halving are the same size; None for a zero price."""
    if before <= 0 or after <= 0:
        return None
    return abs(math.log(after / before))


def price_jumps(
    *, prices: list[float], check_from: int, window: int, min_history: int, threshold: float
) -> list[tuple[int, Score]]:
    """(index, score) of each price at `check_from` or later whose move from the one before is past `threshold`,
    scored against the series' previous `window` moves."""
    moves: list[float | None] = [None] + [log_move(a, b) for a, b in itertools.pairwise(prices)]
    flagged = []
    for index in range(max(1, check_from), len(prices)):
        move = moves[index]
        if move is None:
            continue
        history = [m for m in moves[max(1, index - window) : index] if m is not None]
        scored = robust_score(value=move, history=history, floor=PRICE_MOVE_FLOOR, min_history=min_history)
        if scored is not None and scored.score >= threshold:
            flagged.append((index, scored))
    return flagged


def disagreement(*, price: float, others: list[float], ratio: float) -> Score | None:
    """The price against the median of the other sources' prices: flagged past `ratio` either way.

    The score is how many times dearer or cheaper it is than that median."""
    if not others or price <= 0:
        return None
    middle = median(others)
    if middle <= 0:
        return None
    factor = max(price / middle, middle / price)
    return Score(value=price, baseline=middle, score=round(factor, 2)) if factor >= ratio else None
