"""`python -m edgeface ...` is the `edgeface` command."""

from edgeface.cli.main import main

if __name__ == "__main__":
    main()
