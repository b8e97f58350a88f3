"""Self-organising textures (Niklasson et al., Distill 2021) as an NCA task plugin."""

from nca_texture.config import TextureConfig
from nca_texture.task import TextureTask

__all__ = ["TextureConfig", "TextureTask"]
