"""Input pipelines: image sources (folders, TFDS ArrayRecord), the WikiArt TFDS builder,
and paired content/style grain pipelines with exact, Orbax-checkpointable resume.

Importing this package is cheap: TFDS is imported only when a TFDS source or the
WikiArt builder is used.
"""

from jaxstyle.data.images import BadImageWarning
from jaxstyle.data.pipeline import (
    DataSettings,
    StreamCounts,
    build_paired_dataset,
    build_paired_iterator,
    default_data_config,
    ensure_absl_flags_parsed,
    iterator_checkpoint_args,
    to_global_batch,
)
from jaxstyle.data.sources import ImageFolderSource, TfdsImageSource, open_image_source

__all__ = [
    "BadImageWarning",
    "DataSettings",
    "ImageFolderSource",
    "StreamCounts",
    "TfdsImageSource",
    "build_paired_dataset",
    "build_paired_iterator",
    "default_data_config",
    "ensure_absl_flags_parsed",
    "iterator_checkpoint_args",
    "open_image_source",
    "to_global_batch",
]
