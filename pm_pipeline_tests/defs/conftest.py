"""The drop folder the sensor tests land files in."""

from pathlib import Path

import pytest


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    monkeypatch.setenv("PM_DROP_DIR", str(folder))
    monkeypatch.setenv("PM_SETTLE_SECONDS", "2")
    return folder
