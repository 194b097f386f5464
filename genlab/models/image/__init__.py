"""The image families; importing this package registers them all (`registry.families`)."""

from __future__ import annotations

from genlab.models.image.base import ImageModel
from genlab.models.image.flow import ImageFlow
from genlab.models.image.gan import ImageGAN
from genlab.models.image.pixelcnn import PixelCNN
from genlab.models.image.superres import SuperResolution
from genlab.models.image.vae import ImageVAE

__all__ = ["ImageFlow", "ImageGAN", "ImageModel", "ImageVAE", "PixelCNN", "SuperResolution"]
