from pathlib import Path

import pytest

from risk_manager.config.loader import write_example_config


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config dir holding the packaged example files."""
    write_example_config(tmp_path)
    return tmp_path

