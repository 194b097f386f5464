"""Images: codec and readers, conv VAE, GAN, PixelCNN, multi-scale flow, super-resolution,
latent tools, image metrics and the report.

`genlab fit images/ --model vae|gan|pixelcnn|flow|superres` reaches these classes through
the modality registry; `--condition label` makes a family class-conditional.
"""

from __future__ import annotations

from genlab.data.images import ImageSet, is_image_input, make_grid, read_images, read_png, write_png
from genlab.models.image.base import ImageCodec, ImageModel
from genlab.models.image.flow import ImageFlow
from genlab.models.image.gan import ImageGAN
from genlab.models.image.pixelcnn import PixelCNN
from genlab.models.image.superres import SuperResolution, bicubic_upsample, downsample
from genlab.models.image.vae import ImageVAE
from genlab.models.registry import register_detector

__all__ = [
    "ImageCodec",
    "ImageFlow",
    "ImageGAN",
    "ImageModel",
    "ImageSet",
    "ImageVAE",
    "PixelCNN",
    "SuperResolution",
    "bicubic_upsample",
    "downsample",
    "is_image_input",
    "make_grid",
    "read_images",
    "read_png",
    "write_png",
]

register_detector("image", is_image_input, "vae")
