"""Images: the codec and readers, conv VAE, GAN, PixelCNN, multi-scale flow and
super-resolution, re-exported for users (this facade defines and registers nothing).

`genlab fit images/ --model vae|gan|pixelcnn|flow|superres` reaches these classes through
the modality registry; `--condition label` makes a family class-conditional.
"""

from __future__ import annotations

from genlab.data.images import (
    ImageCodec,
    ImageSet,
    is_image_input,
    make_grid,
    read_images,
    read_png,
    write_png,
)
from genlab.models.image import (
    ImageFlow,
    ImageGAN,
    ImageModel,
    ImageVAE,
    PixelCNN,
    SuperResolution,
)
from genlab.models.image.superres import bicubic_upsample, downsample

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
