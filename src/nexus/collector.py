"""Pause Python's cyclic garbage collector while a page of records is made and loaded.

A page of export records parsed from JSON is tens of thousands of dicts and
lists without a reference cycle among them: reference counting frees every
one. Left running, the cyclic collector walks them again and again while the
page is parsed, flattened and loaded, and the full collections their churn
sets off walk the whole heap: about a tenth of a backfill's time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; resume it after, if it was running.

    Release what the block made before it ends: what is still referenced
    when the collector resumes is walked by its next collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
