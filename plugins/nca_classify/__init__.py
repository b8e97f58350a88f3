"""Self-classifying MNIST digits (Randazzo et al., Distill 2020) as an NCA task plugin."""

from nca_classify.config import ClassifyConfig
from nca_classify.task import ClassifyTask

__all__ = ["ClassifyConfig", "ClassifyTask"]
