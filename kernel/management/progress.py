"""Progress bars for long commands: tqdm on stderr, shown only when stderr is a terminal (never in CI logs or
when output is piped)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(total: int | None, description: str, unit: str = "it") -> Iterator:
    bar = tqdm(
        total=total, desc=description, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True
    )
    try:
        yield bar.update
    finally:
        bar.close()
