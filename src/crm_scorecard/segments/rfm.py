"""RFM scoring, pure: quintile scores from recency, frequency and monetary value, and the
named segment an R and F score put a customer in. No queries: `services.rfm_refresh`
reads the orders and stores what this computes, for all customers at once (numpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .models import RfmSegment

S = RfmSegment
# The R x F segment map (R: rows 1-5, F: columns 1-5, 5 best) widely published with RFM
# tutorials (README "Segments and cohorts" cites it); its bottom-left "hibernating" cells
# are split by recency as the rfm R package's "Lost" (R 1-2, F 1-2) suggests: R 1 is lost.
GRID: tuple[tuple[RfmSegment, ...], ...] = (
    #  F=1             F=2                    F=3                    F=4          F=5
    (S.LOST, S.LOST, S.AT_RISK, S.AT_RISK, S.CANT_LOSE),  # R=1
    (S.HIBERNATING, S.HIBERNATING, S.AT_RISK, S.AT_RISK, S.CANT_LOSE),  # R=2
    (S.ABOUT_TO_SLEEP, S.ABOUT_TO_SLEEP, S.NEED_ATTENTION, S.LOYAL, S.LOYAL),  # R=3
    (S.PROMISING, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.LOYAL, S.LOYAL),  # R=4
    (S.NEW, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.CHAMPIONS, S.CHAMPIONS),  # R=5
)
# The order pages list segments in: best first, "no purchases" last.
ORDER: tuple[str, ...] = (
    S.CHAMPIONS,
    S.LOYAL,
    S.POTENTIAL_LOYALISTS,
    S.NEW,
    S.PROMISING,
    S.NEED_ATTENTION,
    S.ABOUT_TO_SLEEP,
    S.AT_RISK,
    S.CANT_LOSE,
    S.HIBERNATING,
    S.LOST,
    S.NO_PURCHASES,
)


def segment_for(r: int, f: int) -> str:
    """The named segment of an R and an F score (1-5 each)."""
    return str(GRID[r - 1][f - 1].value)


def quintile(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5: 1 + floor(5 x the share of customers strictly worse). Equal values
    always get the same score (a tie never splits by chance or by id); where many share a
    value, the scores above it are skipped rather than forced into equal-sized groups."""
    n = len(values)
    if n == 0:
        return pd.Series([], dtype="int64", index=values.index)
    keyed = values.to_numpy(dtype="float64") * (1 if higher_is_better else -1)
    worse = np.searchsorted(np.sort(keyed), keyed, side="left")  # customers strictly worse
    scores = 1 + (5 * worse) // n
    return pd.Series(scores.astype("int64"), index=values.index)


def score(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (one row per customer: recency_days, frequency, monetary, and optionally
    monetary_value, the same as a float; recency_days NaN for a customer with no purchase)
    with r, f, m and segment added. Customers with no
    purchase have no scores and the segment "no purchases"; the quintiles are over the
    customers who bought."""
    out = frame.copy()
    bought = out["recency_days"].notna()
    buyers = out[bought]
    out["r"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out["f"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out["m"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out.loc[bought, "r"] = quintile(buyers["recency_days"].astype(float), higher_is_better=False)
    out.loc[bought, "f"] = quintile(buyers["frequency"].astype(float))
    money = buyers["monetary_value"] if "monetary_value" in buyers else buyers["monetary"]
    out.loc[bought, "m"] = quintile(money.astype("float64"))
    grid = np.array([[str(s.value) for s in row] for row in GRID], dtype=object)
    segment = np.full(len(out), str(S.NO_PURCHASES.value), dtype=object)
    mask = bought.to_numpy()
    if mask.any():
        r = out.loc[bought, "r"].to_numpy(dtype="int64")
        f = out.loc[bought, "f"].to_numpy(dtype="int64")
        segment[mask] = grid[r - 1, f - 1]
    out["segment"] = segment
    return out
