"""Settings: every one documented where a deployer looks for it."""

from __future__ import annotations

from pathlib import Path

from chalicelib.config import SETTING_VARIABLES


def test_every_setting_is_in_the_readme_configuration_table():
    """Every environment variable Settings reads is in the README's Configuration table."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Layout")]
    assert sorted(name for name in SETTING_VARIABLES if f"`{name}`" not in table) == []
