"""The Gradio page of ``jaxstyle serve`` (needs the ``web`` extra: ``pip install jaxstyle[web]``).

Layout: inputs (uploads or bundled samples, each upload decoded by :func:`jaxstyle.io.load_image`
the moment it arrives, so a bad file is named at once), the method menu (:func:`form.menu`) with
each method's fields generated from its declaration (:func:`form.fields`; only the chosen
method's are visible), Stylize and Cancel, then the status line (step, steps/s, losses), the
live preview, the result and the files to download (result and sheet).

Two events run jobs, both through :meth:`Runner.run` in one Gradio concurrency group of size 1
(one job at a time; the queue in front of it holds at most ``max_queue`` and shows each user
its place): the page's Stylize button, and the API endpoint ``/stylize`` for programs
(``gradio_client``), which takes the method's settings as one JSON object instead of the
page's fields::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    result, sheet = client.predict(handle_file("photo.jpg"), None, None, "starry_night", "gatys",
                                   {"steps": 100, "size": 384}, api_name="/stylize")[3]

Errors are one line on the page (``gr.Error``, and the status line), never a traceback.
"""

from __future__ import annotations

import html
import os
import re

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls from the server

from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from jaxstyle.errors import InputError, JaxstyleError  # noqa: E402
from jaxstyle.methods import get_method  # noqa: E402
from jaxstyle.options import Option  # noqa: E402
from jaxstyle.samples import CONTENT_SAMPLES, DEFAULT_CONTENT, DEFAULT_STYLE, STYLE_SAMPLES  # noqa: E402
from jaxstyle.serve import form  # noqa: E402
from jaxstyle.serve.jobs import Request, Runner, Update  # noqa: E402

MAX_UPLOAD_PIXELS = 40_000_000  # decoded pixels of one upload (jaxstyle.io's bomb check); 480 MB as float32
CONCURRENCY = "devices"  # the one concurrency group of the jobs
# System fonts: the default theme's web fonts would make the browser reach for a font host.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
# Small previews (the first scales of a coarse-to-fine run) fill their box instead of a corner of it.
CSS = "#preview img, #result img { width: 100%; height: 100%; object-fit: contain; }"



def load_upload(path: str | None, sample: str | None, what: str) -> tuple[np.ndarray, str]:
    """An uploaded file (decoded by jaxstyle's loader), else the bundled sample; (image, name).

    Errors name the upload by what it is (its temporary path means nothing to the user)."""
    from jaxstyle.io import load_image

    if path:
        name = Path(path).stem
        try:
            return load_image(path, max_pixels=MAX_UPLOAD_PIXELS), name
        except InputError as e:  # "<tmp path>: what is wrong" -> "content image x.png: what is wrong"
            message = str(e).removeprefix(f"{path}: ").removeprefix(f"{path} ")
            raise InputError(f"{what} image {Path(path).name}: {message}") from None
    if sample:
        return load_image(f"sample:{sample}"), sample
    raise InputError(f"give a {what} image: upload one or pick a sample")


def _preview(path: str | None, sample: str | None, what: str) -> tuple[Any, str]:
    """The image the job will use (shown under the upload), or the one-line reason it cannot."""
    if not path and not sample:
        return None, ""
    try:
        image, _ = load_upload(path, sample, what)
    except JaxstyleError as e:
        return None, f"error: {html.escape(str(e))}"
    return _uint8(image), ""


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image, np.float32) * 255), 0, 255).astype(np.uint8)


def _field(option: Option, elem_id: str) -> gr.components.Component:
    """One form field from one declaration: numbers with their range (a slider when it is
    short), choices as a menu, a checkbox for a flag, text for the rest (names, lists of numbers,
    free strings, and numbers without a default: empty means the method's own)."""
    bounds = option.range_text() if option.choices is None else ""  # a menu shows its choices
    label, info = option.name, f"{option.help} [{bounds}]" if bounds else option.help
    common = {"label": label, "info": info, "elem_id": elem_id}
    if option.choices is not None:
        return gr.Dropdown(list(option.choices), value=option.default, **common)
    if option.type == "bool":
        return gr.Checkbox(value=bool(option.default), **common)
    if option.type in ("int", "float") and option.default is not None:  # Gradio sends an empty number as 0
        low = option.minimum if option.minimum is not None else option.exclusive_minimum
        span = None if low is None or option.maximum is None else option.maximum - low
        if span is not None and (option.type == "float" or span <= 4096):
            return gr.Slider(low, option.maximum, value=option.default, step=1 if option.type == "int" else span / 100,
                             **common)
        return gr.Number(value=option.default, minimum=low, maximum=option.maximum,
                         precision=0 if option.type == "int" else None, **common)
    default = "" if option.default is None else ",".join(map(str, option.default)) \
        if isinstance(option.default, tuple) else str(option.default)
    return gr.Textbox(value=default, placeholder="empty: the method's default", **common)


def _outputs_of(update: Update) -> tuple[Any, ...]:
    keep = gr.skip()
    return (update.status,
            keep if update.preview is None else _uint8(update.preview),
            keep if update.result is None else _uint8(update.result),
            keep if update.files is None else list(update.files))


def build(entries: Sequence[form.Entry], runner: Runner, max_size: int = 1024) -> gr.Blocks:
    """The page (a :class:`gr.Blocks`) offering ``entries``; jobs run on ``runner``."""
    by_label = {e.label: e for e in entries}
    methods = list(dict.fromkeys(e.method for e in entries))
    first = get_method(entries[0].method)

    def job(content_file, content_sample, style_file, style_sample, label, values: dict,
            page: bool = False) -> Iterator[tuple]:
        """One job's updates; errors as one line (escaped for the ``page``: file names are the
        client's, and the page renders messages as HTML)."""
        try:
            entry = by_label.get(label)
            if entry is None:
                raise InputError(f"unknown method {label!r}; this server offers {', '.join(by_label)}")
            if not isinstance(values, dict | None):
                raise InputError(f"settings must be a JSON object {{name: value}}, got {type(values).__name__}")
            spec = get_method(entry.method)
            options, controls = form.settings(spec, values or {}, max_size)
            content, cname = load_upload(content_file, content_sample, "content")
            style, sname = load_upload(style_file, style_sample, "style") if spec.style_images else (None, None)
            request = Request(entry, options, controls, content, style, f"{cname}__{sname}" if sname else cname)
            for update in runner.run(request):
                yield _outputs_of(update)
        except JaxstyleError as e:
            message = html.escape(str(e)) if page else str(e)
            yield _outputs_of(Update(f"error: {message}"))
            raise gr.Error(message, print_exception=False) from None

    with gr.Blocks(title="jaxstyle", delete_cache=(3600, 3600)) as page:
        gr.Markdown("## jaxstyle: neural style transfer\nUpload a content photo and a style image (or pick "
                    "bundled samples), choose a method and its settings, and press **Stylize**. "
                    "Optimization methods show the image as it is optimized.")
        with gr.Row():
            with gr.Column(scale=1):
                content_file = gr.File(label="content image", file_types=["image"], type="filepath",
                                       elem_id="content-file")
                content_sample = gr.Dropdown([*CONTENT_SAMPLES, *STYLE_SAMPLES], value=DEFAULT_CONTENT,
                                             label="or a bundled sample", info="used when nothing is uploaded")
                content_view = gr.Image(_preview(None, DEFAULT_CONTENT, "content")[0], label="content",
                                        interactive=False, height=160, format="png")
                with gr.Column(visible=first.style_images) as style_inputs:
                    style_file = gr.File(label="style image", file_types=["image"], type="filepath",
                                         elem_id="style-file")
                    style_sample = gr.Dropdown([*STYLE_SAMPLES, *CONTENT_SAMPLES], value=DEFAULT_STYLE,
                                               label="or a bundled sample", info="used when nothing is uploaded")
                    style_view = gr.Image(_preview(None, DEFAULT_STYLE, "style")[0], label="style",
                                          interactive=False, height=160, format="png")
                input_error = gr.Markdown(elem_id="input-error")
            with gr.Column(scale=1):
                method = gr.Dropdown(list(by_label), value=entries[0].label, label="method")
                with gr.Row():
                    stylize = gr.Button("Stylize", variant="primary", elem_id="stylize")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
                groups, field_names, field_boxes = {}, [], []
                for name in methods:
                    spec = get_method(name)
                    with gr.Column(visible=name == first.name) as groups[name]:
                        gr.Markdown(f"*{spec.summary}*")
                        by_group: dict[str, list[Option]] = {"controls": []}  # the per-call ones first, open
                        for option in form.fields(spec, max_size):
                            by_group.setdefault(option.group or "settings", []).append(option)
                        for group, options in by_group.items():
                            if not options:
                                continue
                            slug = re.sub(r"\W+", "-", group)
                            with gr.Accordion(group, open=group == "controls", elem_id=f"group-{name}-{slug}"):
                                for option in options:
                                    field_names.append((name, option.name))
                                    field_boxes.append(_field(option, f"field-{name}-{option.name}"))
            with gr.Column(scale=1):
                status = gr.Markdown("idle", elem_id="status")
                preview = gr.Image(label="live preview", interactive=False, format="png", height=320,
                                   elem_id="preview")
                result = gr.Image(label="result", interactive=False, format="png", height=320, elem_id="result")
                downloads = gr.File(label="download: result and sheet", file_count="multiple",
                                    elem_id="downloads")
        settings_json = gr.JSON(visible=False)  # the API's settings; the page sends its fields instead
        api_button = gr.Button(visible=False)

        def show_method(label):
            spec = get_method(by_label[label].method)
            return [gr.Column(visible=name == spec.name) for name in methods] + [gr.Column(visible=spec.style_images)]

        method.change(show_method, method, [*groups.values(), style_inputs], queue=False, api_visibility="private")
        for file, sample, view, what in ((content_file, content_sample, content_view, "content"),
                                         (style_file, style_sample, style_view, "style")):
            gr.on([file.change, sample.change], lambda f, s, w=what: _preview(f, s, w), [file, sample],
                  [view, input_error], queue=False, api_visibility="private")

        def page_job(content_f, content_s, style_f, style_s, label, *values):
            chosen = by_label[label].method if label in by_label else None
            given = {opt: v for (name, opt), v in zip(field_names, values, strict=True) if name == chosen}
            yield from job(content_f, content_s, style_f, style_s, label, given, page=True)

        inputs = [content_file, content_sample, style_file, style_sample, method]
        outputs = [status, preview, result, downloads]
        running = stylize.click(page_job, [*inputs, *field_boxes], outputs, concurrency_limit=1,
                                concurrency_id=CONCURRENCY, api_visibility="undocumented")
        cancel.click(lambda: "cancelled", None, status, cancels=[running], queue=False, api_visibility="private")
        api_button.click(job, [*inputs, settings_json], outputs, api_name="stylize", concurrency_limit=1,
                         concurrency_id=CONCURRENCY)
    return page


def launch(entries: Sequence[form.Entry], *, host: str = "127.0.0.1", port: int = 7860,
           auth: tuple[str, str] | None = None, max_queue: int = 8, max_upload_mb: float = 10,
           max_size: int = 1024, block: bool = True, quiet: bool = False) -> tuple[gr.Blocks, str, Runner]:
    """Build the page and serve it; returns (page, its URL, the runner) when ``block`` is False."""
    runner = Runner()
    page = build(entries, runner, max_size)
    page.queue(max_size=max_queue, default_concurrency_limit=1)
    _, url, _ = page.launch(
        server_name=host, server_port=port, auth=auth, max_file_size=int(max_upload_mb * 1024 * 1024),
        allowed_paths=[str(runner.out_root)], prevent_thread_lock=not block, quiet=quiet, show_error=True,
        ssr_mode=False, mcp_server=False, pwa=False, theme=THEME, css=CSS, footer_links=["api"], inbrowser=False,
    )
    return page, url, runner

