"""Settings: every one documented where a deployer looks for it."""

from __future__ import annotations

from pathlib import Path

from chalicelib.config import SETTING_VARIABLES


def test_every_setting_is_in_the_readme_configuration_table():
    """Every environment variable Settings reads is in the README's Configuration table."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Layout")]
    assert sorted(name for name in SETTING_VARIABLES if f"`{name}`" not in table) == []


def test_marketable_limit_pct_is_off_unless_set_and_bounded_when_set():
    import pytest
    from pydantic import ValidationError

    from chalicelib.config import settings_from_env

    assert settings_from_env({}).marketable_limit_pct is None
    assert settings_from_env({"MARKETABLE_LIMIT_PCT": ""}).marketable_limit_pct is None  # empty: unset
    assert str(settings_from_env({"MARKETABLE_LIMIT_PCT": "2.5"}).marketable_limit_pct) == "2.5"
    assert str(settings_from_env({"MARKETABLE_LIMIT_PCT": "20"}).marketable_limit_pct) == "20"
    for wrong in ("0", "-1", "20.01", "NaN", "Infinity", "two"):
        with pytest.raises(ValidationError) as refused:
            settings_from_env({"MARKETABLE_LIMIT_PCT": wrong})
        assert "marketable_limit_pct" in str(refused.value), wrong
