"""Plain-PyTorch reference networks for parity tests (no torchvision needed).

The modules are built exactly like the originals so that their ``state_dict`` keys match
the files users have:

- :func:`vgg_features` is torchvision's ``vgg16().features`` / ``vgg19().features``
  (``features.{i}`` indices unchanged; ``padding="reflect"`` only sets ``padding_mode``,
  ``pooling="avg"`` swaps the pool modules, so indices stay the same).
- :func:`vgg_normalised` is ``net.vgg`` of naoto0804/pytorch-AdaIN: a leading 1x1 conv,
  ``ReflectionPad2d`` before every 3x3 conv, ``MaxPool2d(ceil_mode=True)``.

Helpers move weights between our numpy params (``{"conv1_1": {"kernel": HWIO, "bias"}}``)
and torch, run a reference forward with named taps, and push a state_dict through
:func:`jaxstyle.weights.importers.import_weights`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jaxstyle.models.vgg import ARCHS, BLOCK_CHANNELS, conv_names, param_shapes

# --------------------------------------------------------------------------- torchvision VGG


def vgg_features(arch: str, pooling: str = "max", padding: str = "zero") -> nn.Sequential:
    """torchvision's ``features`` Sequential for ``arch`` (same module indices)."""
    layers: list[nn.Module] = []
    cin = 3
    for n, cout in zip(ARCHS[arch], BLOCK_CHANNELS, strict=True):
        for _ in range(n):
            mode = "reflect" if padding == "reflect" else "zeros"
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, padding_mode=mode),
                nn.ReLU(inplace=False),
            ]
            cin = cout
        layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*layers).eval()


def torchvision_indices(arch: str) -> dict[str, int]:
    """Tap name -> index in torchvision's ``features`` (conv, relu and pool modules)."""
    out, i = {}, 0
    for b, n in enumerate(ARCHS[arch], start=1):
        for c in range(1, n + 1):
            out[f"conv{b}_{c}"], out[f"relu{b}_{c}"] = i, i + 1
            i += 2
        out[f"pool{b}"] = i
        i += 1
    return out


# --------------------------------------------------------------------------- AdaIN vgg_normalised


def vgg_normalised() -> nn.Sequential:
    """pytorch-AdaIN's ``net.vgg`` (53 modules, through relu5_4)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    cin = 3
    for b, (n, cout) in enumerate(zip(ARCHS["vgg19"], BLOCK_CHANNELS, strict=True), start=1):
        for _ in range(n):
            layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3)), nn.ReLU()]
            cin = cout
        if b < 5:  # the file ends at relu5_4: no pool5
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
    return nn.Sequential(*layers).eval()


def vgg_normalised_indices() -> dict[str, int]:
    """Tap name -> index in ``vgg_normalised()`` (relu taps and pools)."""
    out, i = {}, 1  # index 0 is the 1x1 conv
    for b, n in enumerate(ARCHS["vgg19"], start=1):
        for c in range(1, n + 1):
            out[f"conv{b}_{c}"], out[f"relu{b}_{c}"] = i + 1, i + 2
            i += 3
        if b < 5:
            out[f"pool{b}"] = i
            i += 1
    return out


# --------------------------------------------------------------------------- weights


def he_params(arch: str, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random VGG params with realistic scale (He init, small biases), float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer, shapes in param_shapes(arch).items():
        kh, kw, cin, cout = shapes["kernel"]
        std = np.sqrt(2.0 / (kh * kw * cin))
        params[layer] = {
            "kernel": (rng.standard_normal(shapes["kernel"]) * std).astype(np.float32),
            "bias": (rng.standard_normal(shapes["bias"]) * 0.05).astype(np.float32),
        }
    return params


def to_oihw(kernel: np.ndarray) -> np.ndarray:
    """Our HWIO kernel -> torch's (out, in, kh, kw)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def torchvision_state_dict(
    params: Mapping[str, Mapping[str, np.ndarray]], arch: str, prefix: str = "features."
) -> dict[str, torch.Tensor]:
    """Our params -> a torchvision ``features`` state_dict (``features.{i}.weight``...)."""
    idx = torchvision_indices(arch)
    sd = {}
    for layer in conv_names(arch):
        if layer not in params:
            continue
        sd[f"{prefix}{idx[layer]}.weight"] = torch.from_numpy(to_oihw(params[layer]["kernel"]))
        sd[f"{prefix}{idx[layer]}.bias"] = torch.from_numpy(np.array(params[layer]["bias"]))
    return sd


def load_into(model: nn.Sequential, params: Mapping, arch: str) -> nn.Sequential:
    """Copy our params into a :func:`vgg_features` model (only the layers given)."""
    sd = torchvision_state_dict(params, arch, prefix="")
    model.load_state_dict(sd, strict=False)
    return model


# --------------------------------------------------------------------------- forward


@torch.no_grad()
def run_taps(
    model: nn.Sequential, images_nhwc: np.ndarray, taps: Mapping[str, int], layers: Iterable[str]
) -> dict[str, np.ndarray]:
    """Run ``model`` on NHWC numpy images up to the deepest tap; return NHWC numpy features."""
    layers = list(layers)
    want = {taps[name]: name for name in layers}
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(images_nhwc, (0, 3, 1, 2))))
    out = {}
    for i, module in enumerate(model):
        if i > max(want):
            break
        x = module(x)
        if i in want:
            out[want[i]] = np.transpose(x.numpy(), (0, 2, 3, 1)).copy()
    return {name: out[name] for name in layers}


def torch_normalize(images_nhwc: np.ndarray) -> np.ndarray:
    """torchvision's ImageNet normalization of [0, 1] RGB (what our "torch" mode does)."""
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return ((images_nhwc - mean) / std).astype(np.float32)


# --------------------------------------------------------------------------- importers


def import_state_dict(state_dict: Mapping[str, torch.Tensor], path: Path, fmt: str = "pth", **kw):
    """Save ``state_dict`` as ``.pth`` (torch zip) or ``.safetensors`` and import it back."""
    from jaxstyle.weights.importers import import_weights

    save_state_dict(state_dict, path, fmt)
    return import_weights(path, **kw)


def save_state_dict(state_dict: Mapping[str, torch.Tensor], path: Path, fmt: str = "pth") -> Path:
    """Write a state_dict the way users get them: ``torch.save`` or safetensors' ``save_file``."""
    path = Path(path)
    if fmt == "pth":
        torch.save(dict(state_dict), path)
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        raise ValueError(fmt)
    return path


# --------------------------------------------------------------------------- RAST (Ma et al. 2023)
# Same module names/structure as the official RAST ``net_v19.py`` so state_dict keys match the
# released ``transformer_iter_160000.pth`` / ``decoder_iter_160000.pth``.


def rast_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (unbiased variance + eps) of NCHW features, shaped (N,C,1,1)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    std = (flat.var(dim=2) + eps).sqrt().reshape(n, c, 1, 1)
    return flat.mean(dim=2).reshape(n, c, 1, 1), std


def rast_mean_variance_norm(feat: torch.Tensor) -> torch.Tensor:
    mean, std = rast_mean_std(feat)
    return (feat - mean) / std


class RastSANet(nn.Module):
    """Style-attentional block (attributes f, g, h, out_conv as in the official code)."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Conv2d(channels, channels, 1)
        self.g = nn.Conv2d(channels, channels, 1)
        self.h = nn.Conv2d(channels, channels, 1)
        self.out_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        q = self.f(rast_mean_variance_norm(content)).flatten(2).transpose(1, 2)  # (N, HWc, C)
        k = self.g(rast_mean_variance_norm(style)).flatten(2)  # (N, C, HWs)
        v = self.h(style).flatten(2)  # (N, C, HWs)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (N, HWc, HWs)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(content.shape)
        return self.out_conv(out) + content


class RastTransform(nn.Module):
    """SANet at relu4_1 and relu5_1, relu5_1 nearest-upsampled, summed, reflect-pad 3x3 merge."""

    def __init__(self, channels: int = 512):
        super().__init__()
        self.sanet4_1 = RastSANet(channels)
        self.sanet5_1 = RastSANet(channels)
        self.merge_conv_pad = nn.ReflectionPad2d((1, 1, 1, 1))
        self.merge_conv = nn.Conv2d(channels, channels, (3, 3))

    def forward(self, c4, s4, c5, s5):
        up = nn.functional.interpolate(self.sanet5_1(c5, s5), size=c4.shape[2:], mode="nearest")
        return self.merge_conv(self.merge_conv_pad(self.sanet4_1(c4, s4) + up))


def rast_decoder() -> nn.Sequential:
    """The AdaIN/SANet/RAST decoder Sequential (convs at indices 1, 5, 8, ..., 28)."""
    spec = [(512, 256), "up", (256, 256), (256, 256), (256, 256), (256, 128), "up", (128, 128),
            (128, 64), "up", (64, 64), (64, 3)]  # fmt: skip
    layers: list[nn.Module] = []
    for item in spec:
        if item == "up":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            continue
        layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(item[0], item[1], (3, 3)), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU after the last conv


class RastMultiDiscriminator(nn.Module):
    """Three LSGAN discriminators at 1, 1/2, 1/4 scale (``models.disc_{i}`` keys)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        chans = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.models = nn.ModuleList()
        for i in range(3):
            layers: list[nn.Module] = []
            cin = 3
            for k, c in enumerate(chans):
                layers.append(nn.Conv2d(cin, c, 4, stride=2, padding=1))
                if k > 0:
                    layers.append(nn.InstanceNorm2d(c))
                layers.append(nn.LeakyReLU(0.2))
                cin = c
            layers.append(nn.Conv2d(cin, 1, 3, padding=1))
            self.models.add_module(f"disc_{i}", nn.Sequential(*layers))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x):
        outs = []
        for m in self.models:
            outs.append(m(x))
            x = self.downsample(x)
        return outs


# --------------------------------------------------------------------------- monodepth2 (Godard et al. 2019)
# torchvision's ResNet and nianticlabs/monodepth2's ResnetEncoder / DepthDecoder, written out so
# that state_dict keys match the release's encoder.pth / depth.pth (no torchvision needed).


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _downsample(cin, width, stride)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.downsample = _downsample(cin, width * 4, stride)

    def forward(self, x):
        y = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return torch.relu(
            self.bn3(self.conv3(y)) + (x if self.downsample is None else self.downsample(x))
        )


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """torchvision's ResNet trunk (fc included, as in the release's encoder.pth)."""

    def __init__(self, block: type, layers: list[int]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for stage, (n, width) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), start=1):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, width, 2 if stage > 1 and b == 0 else 1))
                cin = width * block.expansion
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, 1000)


class ResnetEncoder(nn.Module):
    """monodepth2's ``networks.ResnetEncoder`` (one input image)."""

    def __init__(self, num_layers: int = 18):
        super().__init__()
        block, layers = {
            18: (BasicBlock, [2, 2, 2, 2]),
            34: (BasicBlock, [3, 4, 6, 3]),
            50: (Bottleneck, [3, 4, 6, 3]),
        }[num_layers]
        self.encoder = ResNet(block, layers)
        self.num_ch_enc = (
            [64, 64, 128, 256, 512] if block is BasicBlock else [64, 256, 512, 1024, 2048]
        )

    def forward(self, x):
        e = self.encoder
        x = e.relu(e.bn1(e.conv1((x - 0.45) / 0.225)))
        feats = [x]
        feats.append(e.layer1(e.maxpool(x)))
        for stage in (e.layer2, e.layer3, e.layer4):
            feats.append(stage(feats[-1]))
        return feats


class MonodepthConv3x3(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(cin, cout, 3)

    def forward(self, x):
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = MonodepthConv3x3(cin, cout)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x):
        return self.nonlin(self.conv(x))


class DepthDecoder(nn.Module):
    """monodepth2's ``networks.DepthDecoder`` (scales 0-3, skips, nearest upsampling)."""

    def __init__(self, num_ch_enc: list[int]):
        super().__init__()
        dec = [16, 32, 64, 128, 256]
        self.convs: dict = {}
        for i in range(4, -1, -1):
            self.convs[("upconv", i, 0)] = ConvBlock(
                num_ch_enc[-1] if i == 4 else dec[i + 1], dec[i]
            )
            cin = dec[i] + (num_ch_enc[i - 1] if i > 0 else 0)
            self.convs[("upconv", i, 1)] = ConvBlock(cin, dec[i])
        for s in range(4):
            self.convs[("dispconv", s)] = MonodepthConv3x3(dec[s], 1)
        self.decoder = nn.ModuleList(list(self.convs.values()))

    def forward(self, feats):
        out, x = {}, feats[-1]
        for i in range(4, -1, -1):
            x = [
                nn.functional.interpolate(
                    self.convs[("upconv", i, 0)](x), scale_factor=2, mode="nearest"
                )
            ]
            if i > 0:
                x.append(feats[i - 1])
            x = self.convs[("upconv", i, 1)](torch.cat(x, 1))
            if i < 4:
                out[("disp", i)] = torch.sigmoid(self.convs[("dispconv", i)](x))
        return out


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))
    return model.eval()


# --------------------------------------------------------------------------- Johnson et al.


class JohnsonConv(nn.Module):
    """Reflection pad k//2 then a k x k conv (``conv2d``), optionally after nearest x2."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv2d(self.pad(x))


class JohnsonResidual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.in1 = JohnsonConv(c, c, 3), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = JohnsonConv(c, c, 3), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))


class JohnsonTransformerNet(nn.Module):
    """The pytorch/examples fast_neural_style architecture, with its state_dict key names;
    0..255 images in and out, no output non-linearity."""

    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = JohnsonConv(3, 32, 9), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = JohnsonConv(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = JohnsonConv(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", JohnsonResidual(128))
        self.deconv1, self.in4 = JohnsonConv(128, 64, 3, upsample=True), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = JohnsonConv(64, 32, 3, upsample=True), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = JohnsonConv(32, 3, 9)

    def forward(self, x):
        y = torch.relu(self.in1(self.conv1(x)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = torch.relu(self.in4(self.deconv1(y)))
        y = torch.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def randomize_instance_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial affine parameters for every InstanceNorm2d (a trained network's are)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.InstanceNorm2d):
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(m.num_features, generator=g))
    return model.eval()


# --------------------------------------------------------------------------- style swap


def style_swap_torch(content: torch.Tensor, style: torch.Tensor, patch: int = 3, stride: int = 1) -> torch.Tensor:
    """The official style swap in PyTorch for one pair: (1, C, H, W), (1, C, h, w) -> (1, C, H', W').

    Unfold the style into patches, divide by their norm + 1e-8, score by conv2d, one-hot of
    the argmax over patches, then conv_transpose2d of the one-hot with the raw patches over
    conv_transpose2d of the one-hot with ones. H' = (Ho - 1) * stride + patch (= H when the
    stride tiles the map).
    """
    c = style.shape[1]
    cols = torch.nn.functional.unfold(style, patch, stride=stride)  # (1, C*k*k, P)
    kernels = cols[0].T.reshape(-1, c, patch, patch)  # (P, C, k, k)
    norms = kernels.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    scores = torch.nn.functional.conv2d(content, kernels / (norms + 1e-8), stride=stride)
    onehot = torch.zeros_like(scores).scatter_(1, scores.argmax(dim=1, keepdim=True), 1.0)
    total = torch.nn.functional.conv_transpose2d(onehot, kernels, stride=stride)
    count = torch.nn.functional.conv_transpose2d(onehot, torch.ones_like(kernels), stride=stride)
    return total / count


class IrasinRC(nn.Module):
    """irasin/Pytorch_Style_Swap's ``RC``: ReflectionPad2d(1), 3x3 conv, optional ReLU (no norm)."""

    def __init__(self, cin: int, cout: int, relu: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(cin, cout, 3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        return torch.relu(x) if self.relu else x


class IrasinDecoder(nn.Module):
    """irasin's relu3_1 inverse network: rc1..rc5 with two nearest x2 upsamplings (``model_state.pth`` keys)."""

    def __init__(self):
        super().__init__()
        self.rc1, self.rc2, self.rc3 = IrasinRC(256, 128), IrasinRC(128, 128), IrasinRC(128, 64)
        self.rc4, self.rc5 = IrasinRC(64, 64), IrasinRC(64, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = torch.nn.functional.interpolate
        x = up(self.rc1(x), scale_factor=2, mode="nearest")
        x = up(self.rc3(self.rc2(x)), scale_factor=2, mode="nearest")
        return self.rc5(self.rc4(x))
