"""Stride-1 NHWC/HWIO convolution with gradients that stay on XLA:CPU's fast paths.

Shared by the frozen VGG encoders and the trainable decoders. On accelerators the custom
gradient changes nothing of substance (plain convolutions); on the CPU it is what makes
jaxstyle's optimization loop and training step fast:

- Input gradient: the automatic transpose convolves with the flipped kernel in ``01oi`` form
  (input and output features swapped in the dimension numbers). Inside a ``while`` loop (the
  on-device optimization loop of :mod:`jaxstyle.optimize`) XLA:CPU then falls back from its
  fast convolution to a generic one for every backward conv, making an L-BFGS/Adam step ~3x
  slower than the same step outside a loop. Here the flipped, transposed kernel is
  materialised in plain HWIO order (the barrier stops XLA folding the transpose back into the
  dimension numbers), so backward convolutions take the fast path everywhere.
- Kernel gradient: XLA:CPU's backward-filter convolution is 3-8x slower than the forward one
  (8x128x128x128, 3x3: 2.3 s vs 0.28 s on a 2-core EPYC). On the CPU it is computed instead
  as ``kh*kw`` matrix products of shifted input windows with the output gradient (same FLOPs,
  4.4x faster there); other backends keep XLA's own.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

_CONV_DIMS = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array, pad: int, col_pad: int | None = None) -> jax.Array:
    """Stride-1 convolution, ``pad`` zeros around rows (and columns unless ``col_pad`` given)."""
    cols = pad if col_pad is None else col_pad
    padding = ((pad, pad), (cols, cols))
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_CONV_DIMS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_hwio(x: jax.Array, kernel: jax.Array, pad: int) -> jax.Array:
    """Stride-1 NHWC/HWIO convolution with ``pad`` zeros on each side (see module docstring)."""
    return _conv(x, kernel, pad)


def _conv_hwio_fwd(x, kernel, pad):
    return _conv(x, kernel, pad), (x, kernel)


def _kernel_grad_matmul(x: jax.Array, g: jax.Array, kh: int, kw: int, pad: int) -> jax.Array:
    """``dK[i, j] = sum_{n,h,w} x_pad[n, h+i, w+j, :]^T g[n, h, w, :]`` as matrix products.

    The shifted windows are copies, so they are taken of the smaller operand: with fewer
    output than input channels (and a 'same' convolution), ``g`` is shifted instead of ``x``
    and all taps go into one product (decoder's 64 -> 3 conv: 10x faster than shifting x).
    """
    n, h, w, cin = x.shape
    ho, wo, cout = g.shape[1], g.shape[2], g.shape[3]
    if cout < cin and (ho, wo) == (h, w):
        # dK[i, j] = sum_{h', w'} x[h', w'] g[h' + pad - i, w' + pad - j] (g zero outside).
        gq = jnp.pad(g, ((0, 0), (kh - 1 - pad, pad), (kw - 1 - pad, pad), (0, 0)))
        cols = jnp.concatenate(
            [
                gq[:, kh - 1 - i : kh - 1 - i + h, kw - 1 - j : kw - 1 - j + w]
                for i in range(kh)
                for j in range(kw)
            ],
            axis=-1,
        )
        dk = x.reshape(-1, cin).T @ cols.reshape(-1, kh * kw * cout)
        return dk.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    g2 = g.reshape(-1, cout)
    taps = [
        [x[:, i : i + ho, j : j + wo, :].reshape(-1, cin).T @ g2 for j in range(kw)]
        for i in range(kh)
    ]
    return jnp.stack([jnp.stack(row) for row in taps])


def _conv_hwio_bwd(pad, res, g):
    x, kernel = res
    kh, kw = kernel.shape[:2]
    flipped = jax.lax.optimization_barrier(jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
    dx = _conv(g, flipped, kh - 1 - pad)
    # Kernel gradient (unused, hence removed by XLA, when only the image is optimized).
    if jax.default_backend() == "cpu":
        dk = _kernel_grad_matmul(x, g, kh, kw, pad).astype(kernel.dtype)
    else:
        dk = jax.vjp(lambda k: _conv(x, k, pad), kernel)[1](g)[0]
    return dx, dk


conv_hwio.defvjp(_conv_hwio_fwd, _conv_hwio_bwd)


def conv3x3_reflect(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3x3 convolution of ``x`` reflection-padded by 1 (same size out), computed fast.

    XLA:CPU runs a 'valid' convolution of the padded (H+2)x(W+2) image ~2.5x slower than a
    'same' one of the HxW image (8x256x256x64: 0.81 s vs 0.28 s). Reflection and zero
    padding differ only in the 1-pixel ring, so this is the zero-padded convolution plus the
    ring's contribution, which touches only the output's border rows and columns: two
    one-row convolutions (top/bottom padded rows with the kernel's first/last row) and two
    one-column ones (left/right padded columns, corners excluded). Exact up to rounding.
    """
    h, w = x.shape[1], x.shape[2]
    if h < 2 or w < 2:  # reflection needs two pixels; no speed to gain on such inputs anyway
        return _conv(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect"), kernel, 0)
    y = conv_hwio(x, kernel, 1)

    def row(r):  # padded row made of x's row r, its own columns reflection-padded
        return jnp.pad(x[:, r : r + 1], ((0, 0), (0, 0), (1, 1), (0, 0)), mode="reflect")

    top = _conv(row(1), kernel[0:1], 0)  # padded row 0 -> output row 0
    bottom = _conv(row(h - 2), kernel[2:3], 0)  # padded row h+1 -> output row h-1
    left = _conv(x[:, :, 1:2], kernel[:, 0:1], 1, col_pad=0)  # padded column 0 -> output column 0
    right = _conv(x[:, :, w - 2 : w - 1], kernel[:, 2:3], 1, col_pad=0)
    y = y.at[:, 0:1].add(top).at[:, h - 1 : h].add(bottom)
    return y.at[:, :, 0:1].add(left).at[:, :, w - 1 : w].add(right)



def conv_reflect_ring(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """k x k convolution (k odd) with ``stride`` of ``x`` reflection-padded by ``p = k // 2``,
    computed as the zero-padded convolution plus the reflected border's contribution.

    The idea of :func:`conv3x3_reflect` for any odd k and stride: XLA:CPU runs a convolution
    with padding in its dimension numbers 2-3x faster than the 'valid' one of an explicitly
    padded image (1024 px, 9x9 3 -> 32: 0.52 vs 1.33 s; 3x3 stride 2 32 -> 32: 0.15 vs 0.41 s).
    Both read padded rows ``s*i .. s*i+k-1`` for output row i, so they differ only by the
    convolution of ``reflect - zero`` padding, which is non-zero on the p-pixel ring: four
    thin bands (top and bottom with the corners, left and right without), each convolved
    'valid' over just the outputs it reaches. Exact up to rounding.
    (N,H,W,Cin), (k,k,Cin,Cout) -> (N,Ho,Wo,Cout), Ho = (H - 1) // stride + 1.
    """
    k = kernel.shape[0]
    p, s = k // 2, stride
    h, w = x.shape[1], x.shape[2]
    padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    y = jax.lax.conv_general_dilated(x, kernel, (s, s), ((p, p), (p, p)), dimension_numbers=_CONV_DIMS)
    ho, wo = y.shape[1], y.shape[2]

    def band(n_pad: int, n_out: int, ring: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """Outputs [o0, o1) reached by padded positions ``ring`` and the padded range they read."""
        lo, hi = ring
        o0 = max(0, -(-(lo - k + 1) // s))
        o1 = min(n_out, (hi - 1) // s + 1)
        return None if o0 >= o1 else (o0, o1, s * o0, s * (o1 - 1) + k)

    def ring_conv(rows, cols, keep_rows, keep_cols):
        """VALID conv of padded[rows, cols] with everything outside ``keep_*`` zeroed."""
        part = padded[:, rows[0] : rows[1], cols[0] : cols[1]]
        r = np.arange(rows[0], rows[1])
        c = np.arange(cols[0], cols[1])
        mask = ((r >= keep_rows[0]) & (r < keep_rows[1]))[:, None] & ((c >= keep_cols[0]) & (c < keep_cols[1]))[None]
        part = part * jnp.asarray(mask, part.dtype)[None, :, :, None]
        return jax.lax.conv_general_dilated(part, kernel, (s, s), "VALID", dimension_numbers=_CONV_DIMS)

    full_rows, full_cols = (0, h + 2 * p), (0, w + 2 * p)
    inner_rows = (p, h + p)
    for ring in ((0, p), (h + p, h + 2 * p)):  # top and bottom, corners included
        b = band(h + 2 * p, ho, ring)
        if b is not None:
            y = y.at[:, b[0] : b[1]].add(ring_conv((b[2], b[3]), full_cols, ring, full_cols))
    for ring in ((0, p), (w + p, w + 2 * p)):  # left and right, corners excluded
        b = band(w + 2 * p, wo, ring)
        if b is not None:
            y = y.at[:, :, b[0] : b[1]].add(ring_conv(full_rows, (b[2], b[3]), inner_rows, ring))
    return y


def reflect_conv(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """k x k convolution (k odd) with ``stride`` of ``x`` reflection-padded by ``k // 2``, in the
    form XLA runs fastest; every form gives the same result up to rounding.

    - stride-1 3x3: :func:`conv3x3_reflect`;
    - on the CPU, strided convs and wide ones (>= 16 outputs, e.g. Johnson's/CIN's 9x9 3 -> 32):
      :func:`conv_reflect_ring`, 2-3x faster there;
    - other stride-1 (narrow outputs): 'same' on the reflect-padded image, then the centre —
      the 'valid' result, which XLA:CPU runs far slower (9x9 32 -> 3 at 1024 px: 7.3 s vs 0.4 s);
    - otherwise reflect-pad and a 'valid' convolution.

    (N,H,W,Cin), (k,k,Cin,Cout) -> (N,Ho,Wo,Cout), Ho = (H - 1) // stride + 1.
    """
    k = kernel.shape[0]
    if k == 3 and stride == 1:
        return conv3x3_reflect(x, kernel)
    if (stride > 1 or kernel.shape[-1] >= 16) and jax.default_backend() == "cpu":
        return conv_reflect_ring(x, kernel, stride)
    p = k // 2
    padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    if stride == 1:
        return jax.lax.conv_general_dilated(padded, kernel, (1, 1), ((p, p), (p, p)),
                                            dimension_numbers=_CONV_DIMS)[:, p:-p, p:-p]
    return jax.lax.conv_general_dilated(padded, kernel, (stride, stride), "VALID",
                                        dimension_numbers=_CONV_DIMS)
