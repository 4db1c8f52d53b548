"""The template method: a 1x1-conv colour transform predicted from mean/std statistics, trained
on the mean/std style loss. A whole method in one short ``method.py`` (README "Adding a method")."""

from jaxstyle.methods.base.declaration import ALPHA, PRESERVE_COLOR, SIZE, SOURCE, Method

METHOD = Method(
    "meanstd", "feed-forward: 1x1-conv colour transfer on mean/std (the template method)", kind="feed-forward",
    needs="a trained workdir", loader="jaxstyle.methods.meanstd.method:load_stylizer",
    options=(SOURCE.with_default(None, required=True),), controls=(SIZE, PRESERVE_COLOR, ALPHA),
    trainer="jaxstyle.methods.meanstd.method:TRAINER",
)
