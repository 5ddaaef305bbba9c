"""One Windows config dir: the loader, the service and the docs agree on %ProgramData%\\risk-manager."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


from risk_manager.config import loader

ROOT = Path(__file__).resolve().parents[2]


def test_windows_config_dir_follows_programdata():
    assert loader.windows_config_dir({"PROGRAMDATA": "D:\\Data"}) == Path("D:\\Data") / "risk-manager"
    assert loader.windows_config_dir({}) == Path(r"C:\ProgramData") / "risk-manager"


def test_default_config_dir_on_windows_is_the_service_dir(monkeypatch):
    monkeypatch.delenv(loader.CONFIG_ENV, raising=False)
    monkeypatch.setenv("PROGRAMDATA", r"C:\ProgramData")
    monkeypatch.setattr(loader.sys, "platform", "win32")
    assert loader.default_config_dir() == loader.windows_config_dir()


def test_windows_service_uses_the_loaders_default(monkeypatch):
    from service.test_service_windows import FakeWindows

    for name, module in FakeWindows().modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "risk_manager.service.windows", raising=False)
    try:
        windows = importlib.import_module("risk_manager.service.windows")
        assert windows.default_config_dir is loader.default_config_dir
    finally:  # leave no fake-backed module behind, neither in sys.modules nor on the package
        sys.modules.pop("risk_manager.service.windows", None)
        import risk_manager.service as package

        if hasattr(package, "windows"):
            delattr(package, "windows")


def test_readme_names_one_windows_config_dir():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "ProgramData\\RiskManager" not in text
    assert "C:\\ProgramData\\risk-manager" in text
