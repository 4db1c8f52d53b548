"""Decoder shape/naming contract (the RAST engineer and the AdaIN importer rely on it)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.models.decoder import Decoder, conv_names, torch_key_map, upsample_nearest2x


def test_decoder_shapes_and_official_names():
    dec = Decoder()
    # eval_shape: shapes and names without compiling the full-width network (fast).
    params = jax.eval_shape(dec.init, jax.random.key(0), jnp.zeros((1, 4, 4, 512)))["params"]
    # Names are the nn.Sequential indices of pytorch-AdaIN's decoder.pth.
    assert sorted(params) == sorted({v[0] for v in torch_key_map().values()})
    assert params["conv_1"]["kernel"].shape == (3, 3, 512, 256)
    assert params["conv_28"]["kernel"].shape == (3, 3, 64, 3)
    out = jax.eval_shape(dec.apply, {"params": params}, jnp.ones((2, 4, 5, 512)))
    assert out.shape == (2, 32, 40, 3)


def test_decoder_width_and_upsample():
    dec = Decoder(width=0.125)
    params = jax.eval_shape(dec.init, jax.random.key(0), jnp.zeros((1, 2, 2, 64)))["params"]
    assert params["conv_1"]["kernel"].shape == (3, 3, 64, 32)
    out = jax.eval_shape(dec.apply, {"params": params}, jnp.ones((1, 2, 2, 64)))
    assert out.shape == (1, 16, 16, 3)
    x = jnp.arange(4.0).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(
        np.asarray(upsample_nearest2x(x))[0, :, :, 0],
        [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]],
    )


def test_every_level_decoder_mirrors_vgg19_up_to_its_tap():
    # Input width of each level's features, and the spec's conv widths (WCT's d1..d5).
    cases = {
        "relu1_1": (64, [3]),
        "relu2_1": (128, [64, 64, 3]),
        "relu3_1": (256, [128, 128, 64, 64, 3]),
        "relu4_1": (512, [256, 256, 256, 256, 128, 128, 64, 64, 3]),
        "relu5_1": (512, [512, 512, 512, 512, 256, 256, 256, 256, 128, 128, 64, 64, 3]),
    }
    for k, (layer, (cin, widths)) in enumerate(cases.items()):
        dec = Decoder(layer=layer)
        x = jnp.zeros((1, 2, 3, cin))
        params = jax.eval_shape(dec.init, jax.random.key(0), x)["params"]
        kernels = [params[name]["kernel"].shape for name in conv_names(layer)]
        assert [s[3] for s in kernels] == widths, layer
        assert [s[2] for s in kernels] == [cin, *widths[:-1]], layer
        assert jax.eval_shape(dec.apply, {"params": params}, x).shape == (1, 2 * 2**k, 3 * 2**k, 3)
