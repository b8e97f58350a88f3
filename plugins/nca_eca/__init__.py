"""Learning an elementary cellular automaton (Wolfram's rules 0-255) with a 1-D NCA.

Registered as the ``eca`` task through the ``nca.tasks`` entry point group.
"""

from nca_eca.task import ECATask

__all__ = ["ECATask"]
