"""The latency estimator behind a binding's p50/p95: a fixed-bucket histogram per time slice.

Every report lands in the slice of its ``at`` time (``BINDING_SLICE_SECONDS`` wide, default 60 s) and in one of a
fixed set of logarithmic latency buckets. Bucket 0 holds latencies below 1 ms; bucket ``b >= 1`` holds
``[GROWTH**(b-1), GROWTH**b)`` ms with ``GROWTH = 1.1``; the last bucket holds everything from
``GROWTH**(OVERFLOW-1)`` ms (about 120 s) up. A window's quantile sums the buckets of its slices and walks them to
the nearest-rank position ``ceil(q * n)``.

Error bound: the true nearest-rank sample quantile lies in the bucket found, and the estimate is that bucket's
geometric midpoint ``GROWTH**(b - 0.5)``, so it is within a factor ``sqrt(1.1)``, i.e. **at most 4.9 % relative
error** (below 1 ms: at most 0.5 ms absolute; above ~120 s the estimate is the bucket's lower bound). The window
is made of whole slices, so it covers the last ``BINDING_WINDOW_MINUTES`` minus at most one slice's width.

Storage is bounded: one row per (binding, slice, bucket, outcome) that saw a report, and slices older than the
window are deleted as reports arrive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

GROWTH = 1.1
OVERFLOW = 124  # GROWTH ** 123 ~= 123,000 ms
NO_LATENCY = -1  # a report that carried no latency_ms still counts for the success rate
MAX_RELATIVE_ERROR = math.sqrt(GROWTH) - 1

_LOG_GROWTH = math.log(GROWTH)


def bucket_of(latency_ms: float | None) -> int:
    if latency_ms is None:
        return NO_LATENCY
    if latency_ms < 1:
        return 0
    return min(OVERFLOW, 1 + int(math.log(latency_ms) / _LOG_GROWTH))


def bucket_value(bucket: int) -> float:
    """The latency a bucket stands for in an estimate (see the module's error bound)."""
    if bucket <= 0:
        return 0.5
    if bucket >= OVERFLOW:
        return GROWTH ** (OVERFLOW - 1)
    return GROWTH ** (bucket - 0.5)


def quantile(histogram: Iterable[tuple[int, int]], q: float) -> float | None:
    """Nearest-rank quantile ``q`` of a histogram of (bucket, count); None when it holds no latencies."""
    counts = sorted((b, c) for b, c in histogram if b != NO_LATENCY and c > 0)
    total = sum(c for _, c in counts)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket, count in counts:
        seen += count
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(counts[-1][0])
