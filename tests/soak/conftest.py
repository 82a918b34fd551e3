"""The soak runs for half an hour by default, so it stays out of every run that does not ask
for it: `-m soak` (any `-m` expression naming it, as `make soak` passes) or SOAK=1.

A hook rather than addopts' `-m "not soak"`: a second `-m` (`make test-quick` passes its
own) replaces the first, and the soak would come back."""

import os
import re
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parent


def _asked_for(config) -> bool:
    if os.environ.get("SOAK", "") not in ("", "0"):
        return True
    return "soak" in re.findall(r"\w+", config.option.markexpr or "")


def pytest_collection_modifyitems(config, items):
    # Every conftest sees every item: only this folder's are marked, and only they can go.
    ours = [item for item in items if Path(item.fspath).resolve().is_relative_to(FOLDER)]
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        item.add_marker(pytest.mark.soak)
    if ours and not _asked_for(config):
        keep = [item for item in items if item not in ours]
        config.hook.pytest_deselected(items=ours)
        items[:] = keep
