"""Shared fixtures. Test images live in ../shared/data/images beside the repository."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGES = Path(os.environ.get("JAXSTYLE_TEST_IMAGES", REPO.parent / "shared" / "data" / "images"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Converted weights go to a per-session cache, never the user's ~/.cache."""
    os.environ["JAXSTYLE_CACHE"] = str(tmp_path_factory.mktemp("jaxstyle_cache"))
    yield


@pytest.fixture(scope="session")
def images_dir() -> Path:
    if not (SHARED_IMAGES / "content").is_dir():
        pytest.fail(f"test images not found at {SHARED_IMAGES} (set JAXSTYLE_TEST_IMAGES)")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def content_paths(images_dir) -> list[Path]:
    return sorted((images_dir / "content").glob("*.jpg"))


@pytest.fixture(scope="session")
def style_paths(images_dir) -> list[Path]:
    return sorted((images_dir / "style").glob("*.jpg"))


@pytest.fixture(scope="session")
def vgg16(_isolated_cache):
    import jaxstyle

    return jaxstyle.load_encoder("vgg16")


def run_python(code: str, env: dict | None = None, timeout: int = 600):
    """Run ``code`` in a fresh interpreter (for XLA_FLAGS that must precede `import jax`)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def write_monodepth2(folder: Path, num_layers: int = 18, fmt: str = "pth", seed: int = 0):
    """A monodepth2 release-layout model folder with generated weights; returns the torch models."""
    import torch
    import torch_ref

    torch.manual_seed(seed)
    encoder = torch_ref.randomize_batchnorm(torch_ref.ResnetEncoder(num_layers), seed)
    decoder = torch_ref.DepthDecoder(encoder.num_ch_enc).eval()
    folder.mkdir(parents=True, exist_ok=True)
    enc_state = dict(encoder.state_dict())
    if fmt == "pth":  # the release stores the training size beside the tensors
        torch.save(
            {**enc_state, "height": 192, "width": 640, "use_stereo": False}, folder / "encoder.pth"
        )
    else:
        torch_ref.save_state_dict(enc_state, folder / "encoder.safetensors", fmt)
    torch_ref.save_state_dict(decoder.state_dict(), folder / f"depth.{fmt}", fmt)
    return encoder, decoder


@pytest.fixture(scope="session")
def monodepth2_dir(tmp_path_factory) -> Path:
    """A generated-weights ResNet-18 monodepth2 folder (encoder.pth + depth.pth)."""
    folder = tmp_path_factory.mktemp("mono_640x192")
    write_monodepth2(folder)
    return folder


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``jaxstyle ARGS`` in this process: ``(exit code, stdout, stderr)`` (argparse exits too)."""
    from jaxstyle.cli import main

    try:
        code = main(args)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


# XLA's backend (LLVM) optimisation off: tiny runs are nearly all compile time, which this about
# halves. The HLO passes (sharding, fusion) still run; only the generated code is slower.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_cli_fast_compile(*args: str) -> None:
    """``jaxstyle ARGS`` in a subprocess with XLA's backend optimisation off: tiny end-to-end
    runs are nearly all compile time, which that halves (a multimodal train step: 30 s -> 16 s)."""
    import subprocess

    flags = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()
    proc = subprocess.run([sys.executable, "-m", "jaxstyle", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "XLA_FLAGS": flags})
    assert proc.returncode == 0, proc.stderr[-3000:]


def run_cli_processes(args: list[str], n: int = 2, timeout: int = 600) -> list[tuple[int, str, str]]:
    """``jaxstyle ARGS`` as ``n`` processes of one jax.distributed run over 127.0.0.1 (one CPU
    device each), compiled with ``FAST_COMPILE`` (callers compare 8-bit outputs: one level of
    tolerance); per process ``(returncode, stdout, stderr)``."""
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": FAST_COMPILE}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxstyle", *args,
             "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n), "--process-id", str(pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for pid in range(n)
    ]  # fmt: skip
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)]


def assert_bitwise_equal(got, want) -> None:
    """Two pytrees of arrays are equal bit for bit, and finite (numpy's equality checks take
    NaN == NaN: two runs that both diverged would pass them)."""
    import jax
    import numpy as np

    got_leaves, got_tree = jax.tree.flatten(got)
    want_leaves, want_tree = jax.tree.flatten(want)
    assert got_tree == want_tree, (got_tree, want_tree)
    for a, b in zip(got_leaves, want_leaves, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert np.isfinite(a).all() and np.isfinite(b).all(), "non-finite values"
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), (
            f"differ: max |a - b| = {np.abs(a.astype(np.float64) - b).max():.3g}")


def one_ulp_off(tree):
    """``tree`` with its first array's first element moved to the next float: the smallest
    change a bit-for-bit check must catch."""
    import jax
    import numpy as np

    leaves, treedef = jax.tree.flatten(tree)
    first = np.array(leaves[0], copy=True)
    first.flat[0] = np.nextafter(first.flat[0], first.dtype.type(np.inf))
    return jax.tree.unflatten(treedef, [first, *leaves[1:]])


_SHIMS: list = []  # keeps the schema library of torchvision() alive


@functools.cache
def torchvision():
    """``torchvision`` importable without its C++ ops.

    The only torchvision wheel for torch 2.13.0 on this index is built against CUDA torch, so
    its ``_C`` extension does not load with the CPU torch; its meta registrations then fail
    for want of the ``nms``/``qnms`` schemas. Defining the two schemas (never called: only
    ``torchvision.models`` is used) lets the pure-Python models import.
    """
    import importlib.util
    from pathlib import Path

    import torch

    spec = importlib.util.find_spec("torchvision")
    ext = next(Path(next(iter(spec.submodule_search_locations))).glob("_C*.so"), None)
    try:  # where torchvision's ops do load (a matching torch build), no shim is needed
        torch.ops.load_library(str(ext))
    except (OSError, TypeError):
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _SHIMS.append(lib)  # the schemas live as long as the library object
    import torchvision as tv

    return tv


def tiny_config(name: str, images_dir: Path):
    """``configs/<name>.py:tiny`` with a test image as its ``style_image`` if it takes one."""
    from jaxstyle.config import load_config

    path = REPO / "configs" / f"{name}.py"
    assert path.is_file(), f"trainable method {name!r} has no configs/{name}.py (a tiny variant is required)"
    cfg = load_config(f"{path}:tiny")
    if "style_image" in cfg:  # per-style methods learn one style image
        cfg.style_image = str(sorted((images_dir / "style").glob("*.jpg"))[0])
    return cfg


def untrained_workdir(name: str, images_dir: Path, workdir: Path) -> Path:
    """A workdir holding a ``name`` model of its tiny config, as training writes it.

    The weights are zeros of the shapes ``init`` gives (a trace, nothing computed): the
    forward program takes them as arguments, so their values do not matter here.
    """
    import jax
    import numpy as np

    from jaxstyle.checkpoint import Checkpointer
    from jaxstyle.methods import get_trainer
    from jaxstyle.methods.base.plugin import train_step_program

    cfg = tiny_config(name, images_dir)
    jitted, args = train_step_program(get_trainer(name)(cfg))
    del jitted
    params, opt_states = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), args[:2])
    ckpt = Checkpointer(workdir, async_save=False)
    state = {"params": params, "opt_states": opt_states, "step": 0, "rng": jax.random.key(cfg.seed)}
    ckpt.save(0, state, None, cfg.to_dict())
    ckpt.close()
    return workdir
