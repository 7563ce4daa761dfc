"""``python -m dcsim`` and the ``dcsim`` console script.

The CLI imports Hydra, SimPy and numpy (a second or two); Ctrl-C during that import is
one line and exit 130, like Ctrl-C during a run, not an import traceback.
"""

import sys


def entry() -> None:
    try:
        from dcsim.cli import main
    except KeyboardInterrupt:
        print("dcsim: interrupted while starting: nothing was run", file=sys.stderr)
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    entry()
