"""Plotly's JavaScript comes with the `plotly` package from PyPI (requirements.txt): this finder
serves that one file as `vendor/plotly/plotly.min.js` (runserver, tests) and hands it to
`collectstatic`, so no page loads a charting library from outside and no copy of it is kept in
the repository."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor/plotly"
FILE = "plotly.min.js"
PATH = f"{PREFIX}/{FILE}"


def plotly_dir() -> Path | None:
    """The installed package's `package_data` folder (None when plotly is not installed)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs) -> list:
        folder = plotly_dir()
        if folder is None or not (folder / FILE).is_file():
            return [
                Error("plotly.min.js not found: pip install -r requirements.txt", id="stats.E001")
            ]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        folder = plotly_dir()
        if path != PATH or folder is None or not (folder / FILE).is_file():
            return [] if find_all else None
        match = str(folder / FILE)
        return [match] if find_all else match

    def list(self, ignore_patterns):
        folder = plotly_dir()
        if folder is not None and (folder / FILE).is_file():
            storage = FileSystemStorage(location=str(folder))
            storage.prefix = PREFIX
            yield FILE, storage
