"""Each test folder's conftest marks its tests by kind, so `-m "not e2e"` and the like pick
whole folders: `pytest_collection_modifyitems = mark_folder(__file__, "e2e")`."""

from pathlib import Path

import pytest


def mark_folder(conftest_file: str, *markers: str):
    folder = Path(conftest_file).resolve().parent

    def pytest_collection_modifyitems(items):
        # Every conftest sees every item: mark only this folder's.
        for item in items:
            if Path(item.fspath).resolve().is_relative_to(folder):
                for name in markers:
                    item.add_marker(getattr(pytest.mark, name))

    return pytest_collection_modifyitems
