"""Growing Neural Cellular Automata as a task plugin (Mordvintsev et al., Distill 2020).

Registered as the ``grow`` task through the ``nca.tasks`` entry point group.
"""

from nca_grow.task import GrowTask

__all__ = ["GrowTask"]
