"""Johnson et al.: official-layout import parity, the checkerboard property, tiny training end
to end, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli_fast_compile

from jaxstyle.cli import main
from jaxstyle.config import load_config
from jaxstyle.errors import InputError, WeightsError
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.methods import load_stylizer
from jaxstyle.methods.johnson.model import JOHNSON, JohnsonNet, johnson_spec
from jaxstyle.models.transformer_net import ConvLayer

REPO = Path(__file__).resolve().parents[1]
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A pytorch/examples-layout model with generated weights, saved as the 2017 files were
    (legacy pickle with the in*.running_mean/var buffers) and as safetensors."""
    import torch_ref
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = torch_ref.randomize_instance_norms(torch_ref.JohnsonTransformerNet())
    state = dict(net.state_dict())
    legacy = dict(state)
    for key in [k for k in state if k.endswith(".weight") and "in" in k.split(".")[-2]]:
        prefix = key.removesuffix(".weight")
        legacy[f"{prefix}.running_mean"] = torch.zeros_like(state[key])
        legacy[f"{prefix}.running_var"] = torch.ones_like(state[key])
    d = tmp_path_factory.mktemp("johnson_official")
    torch.save(legacy, d / "candy.pth", _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "candy.safetensors"))
    return d, net


def test_official_state_dict_imports_with_parity_on_a_photo(official, content_paths):
    d, net = official
    photo = resize_long_side(load_image(content_paths[0]), 90)  # sides not multiples of 4: padded
    with torch.no_grad():
        x = torch.from_numpy(photo * 255.0).permute(2, 0, 1)[None]
        h, w = photo.shape[:2]
        ph, pw = -h % 4, -w % 4
        xp = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        ref = (net(xp)[:, :, :h, :w] / 255.0).permute(0, 2, 3, 1).numpy()[0]
    legacy, safe = (load_stylizer("johnson", d / f"candy.{ext}") for ext in ("pth", "safetensors"))
    n = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(legacy.params))
    assert n == 1_679_235
    raw = jax.jit(JohnsonNet().apply)({"params": legacy.params}, jnp.asarray(photo)[None])[0]
    err = float(np.abs(np.asarray(raw) - ref).max())
    assert err * 255 <= 1e-3, err  # max abs in the reference's 0..255 units, on a real photo
    print(f"johnson import parity: max abs {err:.2e}")
    (out,) = safe.stylize([photo], None)
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-3)


def test_wrong_files_give_one_line_errors(official, tmp_path, capsys):
    d, net = official
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("res5.")}
    torch.save(state, tmp_path / "truncated.pth")
    torch.save({"0.weight": torch.zeros(3, 3, 1, 1), "0.bias": torch.zeros(3)}, tmp_path / "decoder.pth")
    torch.save({**net.state_dict(), "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    for name, expect in (("truncated", "res5.conv1.conv2d"), ("decoder", "conv1.conv2d"), ("extra", "extra.weight")):
        with pytest.raises(WeightsError, match=expect):
            load_stylizer("johnson", tmp_path / f"{name}.pth")
    code = main(["stylize", "--method", "johnson", "--checkpoint", str(tmp_path / "decoder.pth"),
                 "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def _nyquist_ratio(img: np.ndarray) -> float:
    """Power at the (H/2, W/2) and axis Nyquist bins over the non-DC power, summed over channels."""
    p = np.abs(np.fft.fft2(img - img.mean((0, 1)), axes=(0, 1))) ** 2
    p = p.sum(-1)
    h, w = img.shape[:2]
    return float((p[h // 2, 0] + p[0, w // 2] + p[h // 2, w // 2]) / (p.sum() + 1e-30))


@pytest.mark.parametrize("upsample", ["nearest", "deconv"])
def test_resize_conv_has_no_period_2_artifact_on_a_flat_input(upsample):
    """The x2 expand layers of both variants (random kernels and biases) on a flat map: the
    resize-conv's output is flat, the transposed conv's uneven kernel overlap makes a period-2
    checkerboard, nearly all of its non-DC power in the Nyquist bins.

    Why the layers and not the whole initial network: on a flat image every instance norm
    sees a flat map, which it turns into zeros (plus rounding noise divided by sqrt(eps)), so
    an untrained network's output on a flat input is that noise for both variants.
    """
    layer = ConvLayer(8, 3, upsample=2, transposed=upsample == "deconv")
    x = jnp.full((1, 16, 16, 4), 0.7)
    shapes = jax.eval_shape(layer.init, jax.random.key(0), x)["params"]
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in shapes.items()}
    out = np.asarray(jax.jit(layer.apply)({"params": params}, x))[0]
    assert out.shape == (32, 32, 8)
    ratio = _nyquist_ratio(out)
    if upsample == "nearest":
        assert out.std(axis=(0, 1)).max() < 1e-4 * np.abs(out).max()  # flat up to rounding
    else:
        assert ratio > 0.9, ratio


@pytest.fixture(scope="module")
def johnson_run(tmp_path_factory, images_dir, style_paths):
    workdir = tmp_path_factory.mktemp("johnson")
    run_cli_fast_compile(
        "train", "--config", "configs/johnson.py:tiny", "--workdir", str(workdir),
        f"--config.data.content_dir={images_dir / 'content'}", f"--config.style_image={style_paths[0]}",
        "--config.train.sample_every=0", "--config.train.steps=6", "--config.train.checkpoint_every=6",
    )  # fmt: skip
    return workdir


def test_tiny_training_lowers_the_loss_and_stylizes_through_the_cli(johnson_run, content_paths, tmp_path):
    losses = [json.loads(line)["loss"] for line in (johnson_run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0], losses
    print(f"johnson tiny: loss {losses[0]:.4g} -> {losses[-1]:.4g} in {len(losses)} steps")
    target = tmp_path / "x.png"
    run_cli_fast_compile("stylize", "--method", "johnson", "--checkpoint", str(johnson_run), "--content",
                         str(content_paths[0]), "--size", "48", "--output", str(target))
    out, content = load_image(target), resize_long_side(load_image(content_paths[0]), 48)
    assert out.shape == content.shape and np.abs(out - content).mean() > 1e-2


def test_bad_training_and_stylize_inputs_give_one_line(johnson_run, images_dir, tmp_path, capsys):
    for extra, expect in (([], "style_image=PATH"), (["--config.style_image=/nope.jpg"], "no such file")):
        code = main(["train", "--config", str(REPO / "configs/johnson.py:tiny"), "--workdir", str(tmp_path / "w"),
                     f"--config.data.content_dir={images_dir / 'content'}", *extra])
        err = capsys.readouterr().err
        assert code == 2 and expect in err and err.count("\n") == 1, err
    assert not (tmp_path / "w").exists()
    with pytest.raises(InputError, match="not a multimodal checkpoint"):
        load_stylizer("multimodal", johnson_run)


def test_paper_network_layout():
    spec = johnson_spec()
    assert spec == JOHNSON
    shapes = jax.eval_shape(JohnsonNet().init, jax.random.key(0), jnp.zeros((1, 36, 44, 3)))
    assert sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes)) == 1_679_235
    cfg = load_config(str(REPO / "configs/johnson.py:paper"))
    assert (cfg.data.crop_size, cfg.train.batch_size, cfg.optim.lr) == (256, 4, 1e-3)
