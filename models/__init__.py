"""Data folder installed as an edgeface subpackage (see pyproject.toml package-dir); holds TOML only."""
