"""dcsim: a discrete-event simulator of AI datacentres.

``dcsim.run(overrides)`` runs a scenario in-process; ``dcsim.plan(...)`` finds the
largest deployment that fits a power and space envelope; ``dcsim.analysis`` loads and
plots runs; the ``dcsim`` command runs scenarios and sweeps through Hydra.
"""

__version__ = "0.1.0"


def run(overrides=()):
    """Compose the packaged config with ``overrides``, run it, return its Results."""
    from dcsim.api import run as _run

    return _run(overrides)


def plan(p=None, overrides=(), **options):
    """The largest deployment that fits an envelope and its tokens/s at the SLO
    (``dcsim.analysis.plan``; docs/planning.md)."""
    from dcsim.analysis.plan import plan as _plan

    return _plan(p, overrides, **options)


__all__ = ["__version__", "plan", "run"]
