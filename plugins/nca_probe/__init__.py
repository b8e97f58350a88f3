"""Linear-probing task plugin (paper §4.2, Table 3).

Registered as the ``probe`` task through the ``nca.tasks`` entry point group.
"""

from nca_probe.task import ProbeTask

__all__ = ["ProbeTask"]
