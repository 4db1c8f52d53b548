"""Collections: canonical canvases, masked losses, bounded compilations, streaming, resume.

Default-suite tests run at 32-64 px with two steps; the Done-when checks at the sizes the issue
names (and the kill -9, multi-process and quality checks) are ``slow`` below.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, run_cli, run_cli_processes

from jaxstyle.collection import Collection, stylize_collection
from jaxstyle.errors import InputError
from jaxstyle.io import load_image, resize_long_side, save_image
from jaxstyle.losses import (
    content_loss,
    gram_matrix,
    gram_style_loss,
    laplacian_loss,
    masked_content_loss,
    masked_gram_style_loss,
    masked_laplacian_loss,
    masked_total_variation,
    total_variation,
    valid_mask,
)
from jaxstyle.losses.strotss import sample_valid_points
from jaxstyle.shapes import ALIGN, FITS, canvas_shape, placement

TINY = dict(steps=2, optimizer="adam", style_layers=("relu1_1", "relu2_1"))
TINY_FLAGS = ["--steps", "2", "--optimizer", "adam", "--style-layers", "relu1_1,relu2_1", "--no-sheet"]
# Short/long ratios of 12 distinct shapes at 64 px (6 landscape, 6 portrait), photo-like (0.56-0.95).
RATIOS = (0.56, 0.62, 0.7, 0.75, 0.8, 0.9, -0.56, -0.62, -0.7, -0.75, -0.85, -0.95)


def crops(photos: list[np.ndarray], ratios=RATIOS) -> list[np.ndarray]:
    """One crop of each photo per ratio (negative: portrait), top-left, as large as fits."""
    out = []
    for photo in photos:
        h, w = photo.shape[:2]
        for r in ratios:
            if r > 0:  # landscape: width w' and height r w'
                cw = min(w, int(h / r))
                out.append(photo[: int(round(cw * r)), :cw])
            else:
                ch = min(h, int(w / -r))
                out.append(photo[:ch, : int(round(ch * -r))])
    return out


@pytest.fixture(scope="module")
def photos(content_paths):
    return [resize_long_side(load_image(p), 256) for p in content_paths]


# --------------------------------------------------------------------------- canvases


def test_canvases_hold_the_image_keep_its_orientation_and_are_few_per_size():
    rng = np.random.default_rng(0)
    shapes = [(256, int(s)) for s in rng.integers(60, 257, 200)] + [(int(s), 256) for s in rng.integers(60, 257, 200)]
    for fit in FITS:
        canvases = {canvas_shape(hw, 4, fit) for hw in shapes}
        assert len(canvases) <= 2 * 4 - 1, canvases
        for hw in shapes:
            c = canvas_shape(hw, 4, fit)
            assert (c[0] >= c[1]) == (hw[0] >= hw[1]) or c[0] == c[1]
            if fit == "pad":
                assert c[0] >= hw[0] and c[1] >= hw[1] and c[0] % ALIGN == 0 and c[1] % ALIGN == 0
            else:  # the nearest bucket: stretched by at most half a step
                assert max(abs(c[0] - hw[0]), abs(c[1] - hw[1])) <= 256 / 4 / 2 + 1
    # 4:3, 3:2, 16:9 photos and their portrait twins, and squares: three canvases.
    photo_like = [(192, 256), (171, 256), (144, 256), (256, 192), (256, 171), (256, 144), (256, 256)]
    assert {canvas_shape(hw, 4) for hw in photo_like} == {(192, 256), (256, 192), (256, 256)}
    assert canvas_shape((30, 48), None, height_multiple=4) == (32, 48)  # --spatial-shards 4, exact shapes
    image = np.arange(30 * 48 * 3, dtype=np.float32).reshape(30, 48, 3)
    for fit in FITS:
        where = placement(image.shape[:2], 4, fit)
        placed = where.place(image)
        assert placed.shape[:2] == where.canvas and where.unplace(placed).shape == image.shape
    np.testing.assert_array_equal(placement(image.shape[:2], 4, "pad").unplace(placement((30, 48), 4).place(image)),
                                  image)


def test_masked_losses_on_a_padded_canvas_equal_the_losses_of_the_image_alone():
    rng = np.random.default_rng(1)
    h, w, canvas = 13, 21, (16, 32)

    def pad(x):  # garbage in the padding: the masked losses must not see it
        out = rng.normal(size=(1, *canvas, x.shape[-1])).astype(np.float32) * 9
        out[:, :h, :w] = x
        return out

    f, g = rng.random((1, h, w, 5), np.float32), rng.random((1, h, w, 5), np.float32)
    x, y = rng.random((1, h, w, 3), np.float32), rng.random((1, h, w, 3), np.float32)

    @jax.jit  # one program: eager ops would each compile
    def both(f, g, x, y, pf, pg, px, py):
        valid = jnp.array([h, w])
        mask, target = valid_mask(valid, canvas, canvas), gram_matrix(g)
        exact = (content_loss(f, g), gram_style_loss(f, target), total_variation(x), laplacian_loss(x, y, 2))
        masked = (masked_content_loss(pf, pg, mask), masked_gram_style_loss(pf, target, mask),
                  masked_total_variation(px, valid), masked_laplacian_loss(px, py, valid, 2))
        # A map 4x smaller holds floor(13 / 4) = 3 of its 4 rows and floor(21 / 4) = 5 of its 8 columns.
        small = valid_mask(valid, (4, 8), canvas)
        return exact, masked, (small.sum(0).max(), small.sum(1).max())

    exact, masked, small = both(f, g, x, y, pad(f), pad(g), pad(x), pad(y))
    np.testing.assert_allclose(masked, exact, rtol=1e-5)
    assert tuple(map(int, small)) == (3, 5)


def test_vgg16_on_a_padded_canvas_gives_the_features_of_the_image_alone(vgg16):
    """What makes padded Gatys equal exact-shape Gatys: every layer's valid corner (45 x 61 px
    on 48 x 64, odd sizes pooled down to 2 x 3) matches the image's own features."""
    rng = np.random.default_rng(2)
    image = rng.random((1, 45, 61, 3), np.float32)
    canvas = np.pad(image, ((0, 0), (0, 3), (0, 3), (0, 0)), mode="symmetric")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
    both = jax.jit(lambda x, c: (vgg16(x, layers), vgg16(c, layers, jnp.array([45, 61]))))  # one program
    exact, padded = both(image, canvas)
    assert vgg16.pads_exactly
    for name in layers:
        h, w = exact[name].shape[1:3]
        np.testing.assert_allclose(padded[name][:, :h, :w], exact[name], atol=2e-4, err_msg=name)


def test_valid_points_are_distinct_and_inside_the_image():
    sample = jax.jit(sample_valid_points, static_argnums=(1, 3))
    points = np.asarray(sample(jax.random.key(0), (16, 32), jnp.array([10, 12]), 100))
    assert (points[:, 0] < 12).all() and (points[:, 1] < 10).all()
    assert len({tuple(p) for p in points}) == 100
    few = np.asarray(sample(jax.random.key(0), (16, 32), jnp.array([3, 4]), 100))
    assert (few[:, 0] < 4).all() and (few[:, 1] < 3).all()  # 12 valid positions: they repeat


# --------------------------------------------------------------------------- the engine through a collection


@dataclasses.dataclass(frozen=True)
class TinyMasked:
    """Gatys's terms at toy width (two 3x3 convs, a pool), masked on padded canvases."""

    extra_inputs = ()
    fits = ("pad", "resize")

    def frozen(self):
        rng = np.random.default_rng(0)
        return [jnp.asarray(rng.normal(0, 0.4, s), jnp.float32) for s in ((3, 3, 3, 8), (3, 3, 8, 8))]

    def features(self, kernels, x):
        from jaxstyle.models.conv import conv_hwio
        from jaxstyle.models.vgg import pool2x2

        return jax.nn.relu(conv_hwio(pool2x2(jax.nn.relu(conv_hwio(x, kernels[0], 1)), "max"), kernels[1], 1))

    def prepare(self, frozen, inputs):
        out = {"gram": gram_matrix(self.features(frozen, inputs["style"])),
               "content": self.features(frozen, inputs["content"])}
        return {**out, "valid": inputs["valid"]} if "valid" in inputs else out

    def init(self, inputs, rng, image):
        return {"image": image}

    def loss(self, variables, targets, frozen):
        x = variables["image"][None]
        f = self.features(frozen, x)
        valid = targets.get("valid")
        if valid is None:
            parts = {"style": gram_style_loss(f, targets["gram"]), "content": content_loss(f, targets["content"][None])}
        else:
            mask = valid_mask(valid, f.shape[1:3], x.shape[1:3])
            parts = {"style": masked_gram_style_loss(f, targets["gram"], mask),
                     "content": masked_content_loss(f, targets["content"][None], mask)}
        return sum(parts.values()), parts

    def image(self, variables):
        return variables["image"]


def test_a_dozen_shapes_compile_the_optimization_loop_at_most_three_times(photos, style_paths):
    """The Done-when mechanism (48 images of >= 12 shapes x 1 style compile <= 3 loops) with a
    toy objective at 64 px; the slow test below runs Gatys at 128 px x 10 steps."""
    from jaxstyle.methods.base.optimization import OptimizationStylizer
    from jaxstyle.optimize import EngineConfig

    images = crops(photos)
    assert len(images) == 48 and len({resize_long_side(c, 64).shape for c in images}) >= 12
    stylizer = OptimizationStylizer(TinyMasked(), EngineConfig(steps=2, optimizer="adam"))
    job = Collection(stylizer, images, [load_image(style_paths[0])], size=64)
    out = sorted(job, key=lambda o: int(o.content_id[len("content"):]))
    assert job.compiles.by_name["jit(run_chunk)"] <= 3, job.compiles.by_name
    assert [o.image.shape for o in out] == [resize_long_side(c, 64).shape for c in images]
    assert out[0].content_id == "content0" and out[0].style_id == "style0"


def test_a_program_over_the_memory_budget_is_not_run_and_its_bucket_runs_smaller_batches(monkeypatch, photos,
                                                                                          style_paths):
    """Pairs per program come from the compiled program's memory analysis against the budget:
    4 pairs per device that do not fit are re-cut into batches that do (one more program)."""
    from jaxstyle.collection import run
    from jaxstyle.methods.base.optimization import OptimizationStylizer
    from jaxstyle.optimize import EngineConfig

    images = crops(photos[:1], (0.75,) * 6)  # one shape: one bucket of 6 pairs
    stylizer = OptimizationStylizer(TinyMasked(), EngineConfig(steps=2, optimizer="adam"))
    budgets = []
    monkeypatch.setattr(run, "memory_budget", lambda devices: budgets.append(1) or 1)  # one byte: nothing fits
    job = Collection(stylizer, images, [load_image(style_paths[0])], size=32)
    out = list(job)
    assert budgets and job.per_device() == 4 and len(out) == 6
    assert job.compiles.by_name["jit(run_chunk)"] == 2  # 4 pairs (compiled, refused), then 1 pair
    batch_of_one = Collection(stylizer, images, [load_image(style_paths[0])], size=32, batch=1)
    for a, b in zip(out, batch_of_one, strict=True):
        np.testing.assert_allclose(a.image, b.image, atol=1e-5)


def test_each_style_is_loaded_once_and_contents_stream_a_few_batches_ahead(monkeypatch, tmp_path):
    """C x S outputs: each style decoded once for the job; contents decoded at most a few batches
    ahead of the outputs taken (never all at once)."""
    from jaxstyle.collection import sources
    from jaxstyle.methods import load_stylizer

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(12):
        save_image(folder / f"p{i:02d}.png", rng.random((24 + i % 3 * 4, 32, 3), np.float32))
    loads: list[str] = []
    real = sources._load_file
    monkeypatch.setattr(sources, "_load_file", lambda path: loads.append(path.stem) or real(path))
    stylizer = load_stylizer("gatys", **TINY)
    taken = 0
    for _ in stylizer.stylize_iter(str(folder), ["sample:starry_night", "sample:the_scream"], size=32,
                                   batch=1):
        taken += 1
        contents_loaded = sum(not n.startswith(("starry", "the_scream")) for n in loads)
        assert contents_loaded <= taken + 3, (taken, loads)  # this batch + 2 prefetched (1 pair each)
    assert taken == 24
    assert loads.count("starry_night") == 1 and loads.count("the_scream") == 1


# --------------------------------------------------------------------------- the job: files, manifest, resume


def test_an_interrupted_job_resumes_writes_only_what_is_missing_and_equals_an_uninterrupted_one(tmp_path,
                                                                                                  monkeypatch, capsys):
    import jaxstyle.io

    args = dict(options=TINY, size=32, batch=1)
    contents, styles = ["sample:chelsea", "sample:coffee", "sample:astronaut"], ["sample:starry_night", "sample:ihc"]
    stylize_collection("gatys", contents, styles, tmp_path / "whole", **args)

    real, saved = jaxstyle.io.save_image, []
    run_batch, batches_run = Collection._stylize, []

    class Killed(Exception):
        pass

    def dies_at_the_fourth_file(path, image, **kw):
        if len(saved) == 3:
            raise Killed
        saved.append(path)
        batches_run.append(len(runs))
        return real(path, image, **kw)

    runs = []
    monkeypatch.setattr(Collection, "_stylize", lambda self, *a: runs.append(1) or run_batch(self, *a))
    monkeypatch.setattr(jaxstyle.io, "save_image", dies_at_the_fourth_file)
    with pytest.raises(Killed):
        stylize_collection("gatys", contents, styles, tmp_path / "job", **args)
    assert batches_run == [1, 2, 3]  # each output written as its batch (1 pair) ends, not at the end
    monkeypatch.setattr(jaxstyle.io, "save_image", real)
    capsys.readouterr()
    summary = stylize_collection("gatys", contents, styles, tmp_path / "job", **args)
    out = capsys.readouterr().out
    assert "skipping 3 of 6 outputs already in" in out and "3 pairs (3 skipped)" in out
    assert summary.stylized == 3 and len(summary.written) == 3 and not set(summary.written) & set(saved)
    for name in os.listdir(tmp_path / "whole"):
        if name.endswith(".png"):  # bit-identical: the same batches ran
            assert (tmp_path / "job" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_changed_settings_are_refused_in_one_line_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    common = ["stylize", *TINY_FLAGS, "--size", "32", "--content", "sample:chelsea", "--output", str(out)]
    assert run_cli(common, capsys)[0] == 0
    code, _, err = run_cli([*common, "--steps", "3"], capsys)
    assert code == 2 and err.count("\n") == 1 and "other settings (options: " in err and "--overwrite" in err
    code, stdout, _ = run_cli([*common, "--steps", "3", "--overwrite"], capsys)
    assert code == 0 and "1 pairs (0 skipped)" in stdout


def test_repeated_inputs_and_bad_bucket_counts_are_refused_in_one_line(tmp_path, capsys):
    """Repeats are refused, never merged into one output, and --help says so."""
    code, usage, _ = run_cli(["stylize", "--help"], capsys)
    usage = " ".join(usage.split())  # argparse wraps the help
    assert code == 0 and usage.count("an image given twice, or two images of one name, is refused") == 2
    out = tmp_path / "out"
    for bad, expect in [(["--content", "sample:chelsea", "sample:chelsea"], "is given twice"),
                        (["--style", "sample:ihc", "sample:coffee", "sample:ihc"], "is given twice"),
                        (["--shape-buckets", "0"], "--shape-buckets"), (["--shape-buckets", "many"], "--shape-buckets"),
                        (["--batch", "0"], "--batch")]:
        code, _, err = run_cli(["stylize", *TINY_FLAGS, "--output", str(out), *bad], capsys)
        assert code == 2 and err.count("\n") == 1 and expect in err, err
    assert not out.exists()
    listing = tmp_path / "list.txt"
    listing.write_text("# two photos\nchelsea.png\n\n" + str(REPO / "jaxstyle/sample_images/great_wave.jpg") + "\n")
    save_image(tmp_path / "chelsea.png", load_image("sample:chelsea"))
    from jaxstyle.collection.sources import image_refs

    assert [r.name for r in image_refs([f"@{listing}"])] == ["chelsea", "great_wave"]
    with pytest.raises(InputError, match="would both write outputs named 'chelsea'"):
        image_refs([f"@{listing}", "sample:chelsea"])


# 500 images in ghiasi's own batches of 8: the Done-when count (~2 min here: ghiasi predicts the
# style vector once per pair).
@pytest.mark.parametrize(("n", "batch"), [(16, 2), pytest.param(500, None, marks=pytest.mark.slow)])
def test_ghiasi_streams_a_folder_in_batches_with_the_same_manifest_and_resume(n, batch, tmp_path, monkeypatch,
                                                                               capsys):
    """A feed-forward method through the same job: small images decoded a few batches ahead of
    the outputs written (never all held), each output written as its batch ends; a re-run skips
    them all."""
    from jaxstyle.collection import sources

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(n):
        save_image(folder / f"p{i:03d}.png", rng.random((24, 32, 3), np.float32))  # one program
    loads, wrote = [0], [0]
    real_load = sources._load_file

    def load(path):
        loads[0] += 1
        # the style, then contents: this batch and 2 prefetched ones (a batch of 8 by default)
        assert loads[0] <= wrote[0] + 1 + 3 * (batch or 8), "decoded too far ahead of the outputs"
        return real_load(path)

    monkeypatch.setattr(sources, "_load_file", load)
    import jaxstyle.io

    real_save = jaxstyle.io.save_image

    def save(path, image, **kw):
        wrote[0] += 1
        return real_save(path, image, **kw)

    monkeypatch.setattr(jaxstyle.io, "save_image", save)
    summary = stylize_collection("ghiasi", str(folder), "sample:starry_night", tmp_path / "out", size=32,
                                 batch=batch)
    assert summary.stylized == n and wrote[0] == n and loads[0] == n + 1  # + the style, once
    capsys.readouterr()
    again = stylize_collection("ghiasi", str(folder), "sample:starry_night", tmp_path / "out", size=32,
                               batch=batch)
    assert again.stylized == 0 and again.skipped == n and f"skipping {n} of {n}" in capsys.readouterr().out


# --------------------------------------------------------------------------- slow: the Done-when at full size


@pytest.mark.slow  # 48 Gatys pairs at 128 px x 10 steps (~3 min on the 2-core box)
def test_48_photos_of_12_shapes_compile_gatys_at_most_three_times_at_128_px(photos, style_paths):
    from jaxstyle.methods import load_stylizer

    stylizer = load_stylizer("gatys", steps=10)
    job = Collection(stylizer, crops(photos), [load_image(style_paths[0])], size=128)
    assert len(list(job)) == 48
    assert job.compiles.by_name["jit(run_chunk)"] <= 3, job.compiles.by_name


@pytest.mark.slow  # three CLI processes of a 24-pair job (~2-3 min on the loaded 2-core box)
def test_kill_9_mid_job_then_the_same_command_gives_the_files_of_an_uninterrupted_run(tmp_path, photos):
    folder = tmp_path / "photos"
    for i, image in enumerate(crops(photos[:2], (0.6, 0.75, -0.7))):  # 6 contents x 4 styles
        save_image(folder / f"c{i}.png", image)
    args = ["stylize", "--size", "48", *TINY_FLAGS, "--batch", "1", "--content", str(folder), "--style",
            "sample:starry_night", "sample:the_scream", "sample:great_wave", "sample:ihc"]
    cmd = [sys.executable, "-m", "jaxstyle", *args]
    assert subprocess.run([*cmd, "--output", str(tmp_path / "whole")], cwd=REPO, capture_output=True,
                          timeout=900).returncode == 0
    proc = subprocess.Popen([*cmd, "--output", str(tmp_path / "job")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    wrote = 0
    for line in proc.stdout:
        wrote += line.startswith("wrote ")
        if wrote == 9:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    rerun = subprocess.run([*cmd, "--output", str(tmp_path / "job")], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    skipped = int(rerun.stdout.split("skipping ")[1].split(" of 24")[0])
    assert skipped >= 9 and rerun.stdout.count("wrote ") == 24 - skipped
    assert f"({skipped} skipped)" in rerun.stdout
    for name in os.listdir(tmp_path / "whole"):
        if name.endswith(".png"):
            assert (tmp_path / "job" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


@pytest.mark.slow  # two jax.distributed processes and one more, each loading VGG16 (~2 min)
def test_a_job_split_over_two_processes_then_finished_by_one_writes_each_output_once(tmp_path):
    common = ["stylize", *TINY_FLAGS, "--size", "32", "--style", "sample:starry_night", "sample:ihc", "--output",
              str(tmp_path / "out")]
    runs = run_cli_processes([*common, "--content", "sample:chelsea", "sample:coffee", "sample:astronaut"])
    for code, _, err in runs:
        assert code == 0, err[-2000:]
    wrote = [line for _, out, _ in runs for line in out.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == len(set(wrote)) == 6 and all(out.count("wrote ") == 3 for _, out, _ in runs)
    # One more content on one host: the six done outputs are skipped, the two new ones written.
    proc = subprocess.run([sys.executable, "-m", "jaxstyle", *common, "--content", "sample:chelsea", "sample:coffee",
                           "sample:astronaut", "sample:rocket"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "skipping 6 of 8" in proc.stdout and proc.stdout.count("wrote ") == 2


@pytest.mark.slow  # 8 shared-photo crops x 3 layouts x 60 L-BFGS steps at 128 px (~5 min)
def test_bucketed_results_match_exact_shapes_in_style_distance_and_content_lpips(photos, style_paths):
    from jaxstyle import metrics
    from jaxstyle.methods import load_stylizer
    from jaxstyle.shapes import Batching
    from jaxstyle.weights.encoders import load_encoder

    images = crops(photos, (0.62, -0.77))
    style = load_image(style_paths[2])
    stylizer = load_stylizer("gatys", steps=60)
    exact = stylizer.stylize(images, [style], size=128)
    padded = stylizer.stylize(images, [style], size=128, batching=Batching(4, "pad"))
    vgg = load_encoder("vgg16")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    target = vgg(jnp.asarray(resize_long_side(style, 128))[None], layers)

    def style_distance(x):
        f = vgg(jnp.asarray(x)[None], layers)
        return float(sum(metrics.gram_distance(f[k], target[k])[0] for k in layers) / len(layers))

    for image, e, p in zip(images, exact, padded, strict=True):
        content = resize_long_side(image, 128)[None]
        assert abs(style_distance(p) / style_distance(e) - 1) <= 0.05
        assert abs(float(metrics.lpips(p[None], content)[0] - metrics.lpips(e[None], content)[0])) <= 0.02


@pytest.mark.slow  # three workers, each compiling VGG16 programs at 32 px (~1.5 min on the loaded box)
def test_the_collection_benchmark_runs_its_dry_run():
    """benchmarks/collection.py end to end on 4 crops x 1 style at 32 px (BENCHMARKS.md has the real run)."""
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/collection.py"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    modes = [line.split('"mode": "')[1].split('"')[0] for line in proc.stdout.splitlines() if '"mode"' in line]
    assert modes == ["new", "today", "torch"]
