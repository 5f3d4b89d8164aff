"""The zoo's check on the real classes: transformers, MONAI and pytorch-tcn models built from
their default configurations (random weights, nothing downloaded), analysed and compared with
autograd brute force.

Run with ``pytest -m thirdparty tests/analysis/zoo`` (deselected by default; each case skips
cleanly when its package is not installed). Every model must come out with an exact or global
answer on its output; the few whose output is genuinely not a field (data-dependent keypoints,
pyramid pooling with uneven bins) are listed in :data:`EXPECTED_UNKNOWN` with the node that
must be named.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from zoo_oracle import brute_support, expected_support, positive

from atrous.analysis import AnalysisWarning, Global, analyze
from atrous.analysis.layout import parse_layout, spatial_sizes
from atrous.geometry import Field

pytestmark = pytest.mark.thirdparty


def _hf(model: str, config: str | None = None, **overrides: Any) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        transformers = pytest.importorskip("transformers")
        cfg = getattr(transformers, config or model.replace("Model", "Config"))(**overrides)
        return getattr(transformers, model)(cfg).eval()

    return build


def _monai(name: str, **kwargs: Any) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        nets = pytest.importorskip("monai.networks.nets")
        return getattr(nets, name)(**kwargs).eval()

    return build


def _tcn(**kwargs: Any) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        pytorch_tcn = pytest.importorskip("pytorch_tcn")
        return pytorch_tcn.TCN(1, [8, 8, 8, 8], kernel_size=3, **kwargs).eval()

    return build


# name -> (builder, input shape, input layout, output key)
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], str | None, str | None]] = {
    "wav2vec2": (_hf("Wav2Vec2Model"), (1, 4000), None, None),
    "hubert": (_hf("HubertModel"), (1, 4000), None, None),
    "data2vec-audio": (_hf("Data2VecAudioModel"), (1, 4000), None, None),
    "wavlm": (_hf("WavLMModel"), (1, 4000), None, None),
    # the codec's quantizer (argmin) blocks gradients: autograd can only check the encoder
    "encodec-encoder": (lambda: _hf("EncodecModel")().encoder, (1, 1, 960), None, None),
    "speecht5-hifigan": (_hf("SpeechT5HifiGan", "SpeechT5HifiGanConfig"), (1, 6, 80), "NLC", None),
    "dac": (_hf("DacModel"), (1, 1, 1024), None, "audio_values"),
    "mobilenet-v1": (_hf("MobileNetV1Model"), (1, 3, 64, 64), None, None),
    "mobilenet-v2": (_hf("MobileNetV2Model"), (1, 3, 64, 64), None, None),
    "resnet": (_hf("ResNetModel"), (1, 3, 64, 64), None, None),
    "regnet": (_hf("RegNetModel"), (1, 3, 64, 64), None, None),
    "convnext": (_hf("ConvNextModel"), (1, 3, 64, 64), None, None),
    "convnext-v2": (_hf("ConvNextV2Model"), (1, 3, 64, 64), None, None),
    "bit": (_hf("BitModel"), (1, 3, 64, 64), None, None),
    "efficientnet": (_hf("EfficientNetModel"), (1, 3, 64, 64), None, None),
    "segformer": (_hf("SegformerModel"), (1, 3, 64, 64), None, None),
    "swin": (_hf("SwinModel"), (1, 3, 224, 224), None, None),
    "mobilevit": (_hf("MobileViTModel"), (1, 3, 64, 64), None, None),
    "levit": (_hf("LevitModel"), (1, 3, 224, 224), None, None),
    "focalnet": (_hf("FocalNetModel"), (1, 3, 64, 64), None, None),
    "poolformer": (_hf("PoolFormerModel"), (1, 3, 64, 64), None, None),
    "textnet": (_hf("TextNetModel"), (1, 3, 64, 64), None, None),
    "hgnetv2": (_hf("HGNetV2Backbone", "HGNetV2Config"), (1, 3, 64, 64), None, None),
    "dpt": (_hf("DPTModel"), (1, 3, 384, 384), None, None),
    "monai-unet": (_monai("UNet", spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8, 16), strides=(2, 2)), (1, 1, 32, 32), None, None),
    "monai-basicunet": (_monai("BasicUNet", spatial_dims=2, in_channels=1, out_channels=2), (1, 1, 32, 32), None, None),
    "monai-segresnet": (_monai("SegResNet", spatial_dims=2, in_channels=1, out_channels=2), (1, 1, 32, 32), None, None),
    "monai-attentionunet": (_monai("AttentionUnet", spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8, 16), strides=(2, 2)), (1, 1, 32, 32), None, None),
    "monai-highresnet": (_monai("HighResNet", spatial_dims=2, in_channels=1, out_channels=2), (1, 1, 32, 32), None, None),
    "pytorch-tcn-causal": (_tcn(causal=True), (1, 1, 100), None, None),
    "pytorch-tcn-noncausal": (_tcn(causal=False), (1, 1, 100), None, None),
}  # fmt: skip

# models whose answer contains an honest 'unknown': the op that must be named
EXPECTED_UNKNOWN = {"upernet": "adaptive_avg_pool2d", "superpoint": "nonzero"}
UNKNOWN_MODELS = {
    "upernet": (_hf("UperNetForSemanticSegmentation", "UperNetConfig"), (1, 3, 224, 224), None, None),
    "superpoint": (_hf("SuperPointForKeypointDetection", "SuperPointConfig"), (1, 1, 64, 64), None, None),
}


def _report(build: Callable[[], torch.nn.Module], shape: tuple[int, ...], layout: str | None, key: str | None):
    model = positive(build())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnalysisWarning)
        return model, analyze(model, shape, input_layout=layout, output=key)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_real_model_matches_autograd(name: str) -> None:
    build, shape, layout, key = MODELS[name]
    model, report = _report(build, shape, layout, key)
    node = report.node()
    fields = node.fields
    assert all(isinstance(f, (Field, Global)) for f in fields), (name, fields, node.why)
    sizes = spatial_sizes(shape, parse_layout(layout, len(shape)))
    lengths = [f.length if isinstance(f, Field) else sizes[a] for a, f in enumerate(fields)]
    mid = {a: n // 2 for a, n in enumerate(lengths)}
    positions = [dict(mid)] + [
        {**mid, a: y} for a, f in enumerate(fields) if isinstance(f, Field) for y in (0, lengths[a] - 1)
    ]

    path = report.trace.output_names[report.trace.outputs.index(report.output)]

    def pick(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = m(x)
        for part in path.split(".") if not isinstance(out, torch.Tensor) else ():
            out = out[int(part)] if isinstance(out, (tuple, list)) else out[part]
        return out

    for pos in positions:
        want = expected_support(fields, pos, sizes)
        got = brute_support(model, shape, node, pos, pick=pick, input_layout=layout)
        assert got == want, (name, pos, len(got), len(want))


@pytest.mark.parametrize("name", sorted(UNKNOWN_MODELS))
def test_real_model_unknowns_are_named(name: str) -> None:
    build, shape, layout, key = UNKNOWN_MODELS[name]
    _, report = _report(build, shape, layout, key)
    assert EXPECTED_UNKNOWN[name] in {n.op for n in report.unknown}
    for n in report.unknown:
        assert n.notes and "specs=" in n.notes[-1], (n.name, n.notes)


def test_packages_import_or_skip() -> None:
    for mod in ("transformers", "monai", "pytorch_tcn"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pytest.skip(f"{mod} is not installed")
