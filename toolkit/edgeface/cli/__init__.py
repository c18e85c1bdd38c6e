"""The `edgeface` command line: one module per command (`fetch.py`, `run.py`, `bench.py`, ...), the Typer app
built from them in `main.py`; shared helpers below them: `consoles`, `progress`, `report_files`, `option_lists`."""
