"""dcsim: a discrete-event simulator of AI datacentres.

``dcsim.run(overrides)`` runs a scenario in-process; ``dcsim.analysis`` loads and
plots runs; the ``dcsim`` command runs scenarios and sweeps through Hydra.
"""

__version__ = "0.1.0"


def run(overrides=()):
    """Compose the packaged config with ``overrides``, run it, return its Results."""
    from dcsim.api import run as _run

    return _run(overrides)


__all__ = ["__version__", "run"]
