"""Stylizing a collection: streamed inputs, a few compiled programs, results as batches finish.

- :mod:`~jaxstyle.collection.sources`: input images listed and measured, not loaded;
- :mod:`~jaxstyle.collection.plan`: the job's outputs, shape buckets and each process's share;
- :mod:`~jaxstyle.collection.run`: :class:`Collection`, the generator behind
  ``Stylizer.stylize_iter`` (yields ``(content_id, style_id, image)`` as batches finish);
- :mod:`~jaxstyle.collection.manifest`: settings and done outputs beside the outputs (resume);
- :mod:`~jaxstyle.collection.job`: :func:`stylize_collection`, what ``jaxstyle stylize`` runs.

docs/collections.md is the user's guide.
"""

from jaxstyle.collection.job import JobSummary, stylize_collection
from jaxstyle.collection.run import Collection, Stylized

__all__ = ["Collection", "JobSummary", "Stylized", "stylize_collection"]
