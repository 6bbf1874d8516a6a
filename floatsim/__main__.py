"""``python -m floatsim``: the same as the ``floatsim`` command (see :mod:`floatsim.cli`)."""

from floatsim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
