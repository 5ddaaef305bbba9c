import os
import stat

import pytest

from config_test_helpers import edit_text
from risk_manager.config.loader import ConfigError, load_config_dir
from risk_manager.config.secrets import SecretError, delete_secret, read_secret, secret_file, store_secret

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file store permissions are POSIX")


def test_store_and_read_with_private_permissions(tmp_path):
    where = store_secret("projectx-api-key", "s3cr3t-value", tmp_path)
    path = secret_file(tmp_path, "projectx-api-key")
    assert where == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_secret("projectx-api-key", tmp_path) == "s3cr3t-value"
    store_secret("projectx-api-key", "rotated", tmp_path)
    assert read_secret("projectx-api-key", tmp_path) == "rotated"
    assert [p.name for p in path.parent.iterdir()] == ["projectx-api-key"]  # no temp files left


def test_missing_and_delete(tmp_path):
    assert read_secret("nothing", tmp_path) is None
    store_secret("k", "v", tmp_path)
    assert delete_secret("k", tmp_path) is True
    assert read_secret("k", tmp_path) is None
    assert delete_secret("k", tmp_path) is False


def test_readable_by_others_is_refused_without_revealing_it(tmp_path):
    store_secret("k", "do-not-print", tmp_path)
    os.chmod(secret_file(tmp_path, "k"), 0o644)
    with pytest.raises(SecretError) as info:
        read_secret("k", tmp_path)
    assert "chmod 600" in str(info.value) and "do-not-print" not in str(info.value)


@pytest.mark.parametrize("name", ["../etc/passwd", ".hidden", "a/b", "", "x" * 200])
def test_bad_names(tmp_path, name):
    with pytest.raises(SecretError, match="bad secret name"):
        store_secret(name, "v", tmp_path)


def test_empty_value_refused(tmp_path):
    with pytest.raises(SecretError, match="empty"):
        store_secret("k", "", tmp_path)


def test_api_key_from_secret_store_then_env(config_dir):
    edit_text(config_dir / "accounts.yaml", "  # api_key_secret: projectx-api-key\n", "  api_key_secret: projectx-api-key\n")
    loaded = load_config_dir(config_dir)
    # Not stored yet: falls back to the environment variable, else a clear error naming both.
    assert loaded.api_key({"PROJECTX_API_KEY": "from-env"}) == "from-env"
    with pytest.raises(ConfigError) as info:
        loaded.api_key({})
    assert "projectx-api-key" in str(info.value) and "PROJECTX_API_KEY" in str(info.value)
    store_secret("projectx-api-key", "from-store", loaded.state_dir)
    assert loaded.api_key({"PROJECTX_API_KEY": "from-env"}) == "from-store"
    os.chmod(secret_file(loaded.state_dir, "projectx-api-key"), 0o640)
    with pytest.raises(ConfigError, match="readable by other users"):
        loaded.api_key({})
