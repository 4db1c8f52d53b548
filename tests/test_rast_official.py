"""Official RAST weights import: parity with a PyTorch reference of the same architecture.

The release files are not available offline, so the test generates state_dicts with the exact
official layout (tests/torch_ref.py), saves them with torch.save, imports them and compares
``T(c, s)`` on real photos.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
import torch_ref  # noqa: E402

from jaxstyle.errors import WeightsError  # noqa: E402
from jaxstyle.methods.rast.importer import (  # noqa: E402
    discriminator_from_state_dict,
    load_official_rast,
    transform_from_state_dict,
)

SIZE = 64  # a multiple of 16, so ceil- and floor-mode pooling agree


def _photo(path, size=SIZE) -> np.ndarray:
    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(img, np.float32)[None] / 255.0


def _he_(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rast_official")
    torch.manual_seed(0)
    vgg, transform, decoder = torch_ref.vgg_normalised(), torch_ref.RastTransform(512), torch_ref.rast_decoder()
    _he_(vgg, 1)
    _he_(decoder, 2)  # the transform keeps torch's default init (like a fresh official Transform)
    paths = {}
    for name, module in (("vgg", vgg), ("transformer", transform), ("decoder", decoder)):
        paths[name] = torch_ref.save_state_dict(module.state_dict(), tmp / f"{name}.pth")
    return vgg.eval(), transform.eval(), decoder.eval(), paths


def test_imported_official_rast_matches_pytorch(official, content_paths, style_paths):
    from jaxstyle.methods.rast.method import load_stylizer

    vgg, transform, decoder, paths = official
    # The test-time API over load_official_rast (what `jaxstyle eval --checkpoint T.pth D.pth` uses).
    stylizer = load_stylizer((paths["transformer"], paths["decoder"]), vgg=paths["vgg"])
    c, s = _photo(content_paths[0]), _photo(style_paths[0])

    idx = torch_ref.vgg_normalised_indices()
    with torch.no_grad():

        def taps(x):
            out, feats = _nchw(x), {}
            for i, layer in enumerate(vgg[: idx["relu5_1"] + 1]):
                out = layer(out)
                feats[i] = out
            return feats[idx["relu4_1"]], feats[idx["relu5_1"]]

        (c4, c5), (s4, s5) = taps(c), taps(s)
        ref = decoder(transform(c4, s4, c5, s5)).numpy().transpose(0, 2, 3, 1)

    with jax.default_matmul_precision("highest"):
        out = np.asarray(stylizer.transfer(c, s))
    assert out.shape == ref.shape == (1, SIZE, SIZE, 3)
    scale = max(1.0, float(np.abs(ref).max()))
    assert np.abs(out - ref).max() <= 1e-3 * scale, (np.abs(out - ref).max(), scale)
    assert np.std(ref) > 1e-3 * scale  # the comparison is not between two constant images


def test_discriminator_matches_pytorch(content_paths):
    from jaxstyle.methods.rast.model import MultiScaleDiscriminator

    torch.manual_seed(3)
    ref_d = torch_ref.RastMultiDiscriminator(width=0.125).eval()
    state = {k: v.numpy() for k, v in ref_d.state_dict().items()}
    params = discriminator_from_state_dict(state, "generated")
    x = _photo(content_paths[1], 128)  # >= 128: torch refuses instance norm of a 1x1 map
    with torch.no_grad():
        ref = [o.numpy().transpose(0, 2, 3, 1) for o in ref_d(_nchw(x))]
    with jax.default_matmul_precision("highest"):
        out = jax.jit(MultiScaleDiscriminator(width=0.125).apply)({"params": params}, jnp.asarray(x))
    assert [o.shape for o in out] == [r.shape for r in ref] == [(1, 8, 8, 1), (1, 4, 4, 1), (1, 2, 2, 1)]
    for o, r in zip(out, ref, strict=True):
        np.testing.assert_allclose(np.asarray(o), r, atol=1e-4, rtol=1e-4)


def test_bad_transformer_file_is_one_line_error(official, tmp_path):
    _, transform, _, paths = official
    state = {k: v.numpy() for k, v in transform.state_dict().items()}
    state["sanet5_1.g.weight"] = state["sanet5_1.g.weight"][:, :256]
    with pytest.raises(WeightsError, match=r"sanet5_1\.g\.weight has shape \(512, 256, 1, 1\).*expected") as e:
        transform_from_state_dict(state, "t.pth")
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsError, match="not found"):
        load_official_rast(tmp_path / "missing.pth", paths["decoder"], paths["vgg"])
    with pytest.raises(WeightsError, match="merge_conv"):
        load_official_rast(paths["decoder"], paths["decoder"], paths["vgg"])
