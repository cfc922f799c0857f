from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from sa_munit.config import ExperimentConfig
from sa_munit.export import TranslatorGraph, set_attention_gamma
from sa_munit.networks import (
    LayerNorm2d,
    SelfAttention,
    attention_map_bytes,
    build_model,
    count_parameters,
)

from .conftest import with_attention

# Parameter counts at the reference configuration (dim 64, style_dim 8, n_downsample 2, n_res 4,
# mlp_dim 256; discriminator dim 64, 4 layers, 3 scales). Plain MUNIT's match the MUNIT paper's
# networks; SA-MUNIT adds one bottleneck attention layer (C=256) per generator and one (C=512) per
# discriminator scale.
REFERENCE_COUNTS = {
    "sa-munit": {"content": 5_385_856, "style": 2_764_936, "mlp": 1_120_768, "decoder": 5_836_868,
                 "generator": 15_108_428, "discriminator": 9_256_134},
    "munit": {"content": 5_385_856, "style": 2_764_936, "mlp": 1_120_768, "decoder": 5_754_627,
              "generator": 15_026_187, "discriminator": 8_271_171},
}


def attention_params(channels: int) -> int:
    reduced = channels // 8
    return 2 * (channels * reduced + reduced) + channels * channels + channels + 1


@pytest.mark.parametrize("arch", ["sa-munit", "munit"])
def test_reference_parameter_counts(arch: str) -> None:
    cfg = with_attention(ExperimentConfig(), enabled=arch == "sa-munit")
    model = build_model(cfg)
    gen = model.gen_a
    counts = {
        "content": count_parameters(gen.content_encoder),
        "style": count_parameters(gen.style_encoder),
        "mlp": count_parameters(gen.mlp),
        "decoder": count_parameters(gen.decoder),
        "generator": count_parameters(gen),
        "discriminator": count_parameters(model.dis_a),
    }
    assert counts == REFERENCE_COUNTS[arch]


def test_attention_adds_exactly_the_sagan_layers() -> None:
    sa, plain = REFERENCE_COUNTS["sa-munit"], REFERENCE_COUNTS["munit"]
    assert sa["generator"] - plain["generator"] == attention_params(256)
    assert sa["discriminator"] - plain["discriminator"] == 3 * attention_params(512)


def test_mlp_outputs_every_adain_parameter() -> None:
    gen = build_model(ExperimentConfig()).gen_a
    # n_res blocks x 2 AdaIN layers x (scale, shift) x 256 channels
    assert gen.decoder.num_adain_params == 4 * 2 * 2 * 256
    assert gen.mlp.model[-1].out_features == gen.decoder.num_adain_params


def test_reference_shapes_at_256() -> None:
    model = build_model(ExperimentConfig())
    image = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        content, style = model.gen_a.encode(image)
        out = model.gen_b.decode(content, style)
        patches = model.dis_b(out)
    assert content.shape == (2, 256, 64, 64)
    assert style.shape == (2, 8)
    assert out.shape == (2, 3, 256, 256)
    assert [p.shape for p in patches] == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 4, 4)]
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize("height,width", [(32, 32), (48, 80), (64, 96), (128, 64)])
def test_shapes_at_several_sizes(tiny_cfg: ExperimentConfig, height: int, width: int) -> None:
    model = build_model(tiny_cfg)
    image = torch.rand(3, 3, height, width) * 2 - 1
    with torch.no_grad():
        content, style = model.gen_a.encode(image)
        out = model.gen_b.decode(content, style)
        patches = model.dis_a(image)
    assert content.shape == (3, 32, height // 4, width // 4)
    assert style.shape == (3, tiny_cfg.gen.style_dim)
    assert out.shape == image.shape
    assert patches[0].shape == (3, 1, height // 8, width // 8)
    assert len(patches) == tiny_cfg.dis.num_scales


def test_attention_with_zero_gamma_is_identity() -> None:
    layer = SelfAttention(32, pool_key_value=False)
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(layer(x), x)
    layer.gamma.data.fill_(0.5)
    assert not torch.allclose(layer(x), x)


def test_fresh_sa_munit_equals_plain_munit_with_same_weights(tiny_cfg: ExperimentConfig) -> None:
    """At initialisation (gamma 0) every attention layer is the identity."""
    sa = build_model(tiny_cfg)
    plain = build_model(with_attention(tiny_cfg, enabled=False))
    plain_state = plain.gen_a.state_dict()
    missing = plain.gen_a.load_state_dict(plain_state)  # sanity: plain loads itself
    assert not missing.missing_keys
    # Copy the plain weights into SA-MUNIT by walking modules in order, skipping attention layers.
    sa_layers = [m for m in sa.gen_a.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, LayerNorm2d))
                 and not any(m is c for a in sa.gen_a.modules() if isinstance(a, SelfAttention) for c in a.children())]
    plain_layers = [m for m in plain.gen_a.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, LayerNorm2d))]
    assert len(sa_layers) == len(plain_layers)
    for target, source in zip(sa_layers, plain_layers):
        target.load_state_dict(source.state_dict())
    image, style = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, tiny_cfg.gen.style_dim)
    with torch.no_grad():
        assert torch.allclose(sa.gen_a.decode(sa.gen_a.encode(image)[0], style),
                              plain.gen_a.decode(plain.gen_a.encode(image)[0], style), atol=1e-6)


def test_outputs_are_deterministic_for_a_style(tiny_cfg: ExperimentConfig) -> None:
    model = build_model(tiny_cfg)
    set_attention_gamma(model, 0.3)
    translator = TranslatorGraph(model.gen_a, model.gen_b).eval()
    image = torch.rand(3, 3, 32, 32) * 2 - 1
    style = torch.randn(3, tiny_cfg.gen.style_dim)
    with torch.no_grad():
        first, second = translator(image, style), translator(image, style)
        other_style = translator(image, torch.randn(3, tiny_cfg.gen.style_dim))
        one_by_one = torch.cat([translator(image[i : i + 1], style[i : i + 1]) for i in range(3)])
    assert torch.equal(first, second)
    assert (first - other_style).abs().max() > 1e-3  # the style changes the output
    # No batch coupling: batch 1 goes through the same normalisation as batch 3.
    assert torch.allclose(first, one_by_one, atol=1e-5)


def test_same_seed_builds_same_weights(tiny_cfg: ExperimentConfig) -> None:
    a, b = build_model(tiny_cfg), build_model(tiny_cfg)
    c = build_model(dataclasses.replace(tiny_cfg, seed=1))
    first = next(a.gen_a.parameters())
    assert torch.equal(first, next(b.gen_a.parameters()))
    assert not torch.equal(first, next(c.gen_a.parameters()))


def test_plain_munit_switch_builds_no_attention(tiny_cfg: ExperimentConfig) -> None:
    plain_cfg = with_attention(tiny_cfg, enabled=False)
    model = build_model(plain_cfg)
    assert plain_cfg.architecture == "munit"
    for network in (model.gen_a, model.gen_b, model.dis_a, model.dis_b):
        assert not any(isinstance(m, SelfAttention) for m in network.modules())


def test_attention_sites_follow_config(tiny_cfg: ExperimentConfig) -> None:
    def count(cfg: ExperimentConfig) -> tuple[int, int]:
        model = build_model(cfg)
        gen = sum(isinstance(m, SelfAttention) for m in model.gen_a.modules())
        dis = sum(isinstance(m, SelfAttention) for m in model.dis_a.modules())
        return gen, dis

    # content: before each of 2 downsamplings; decoder: bottleneck + before the second upsampling
    # (the first upsampling's site is the bottleneck itself); discriminator: one per scale.
    assert count(tiny_cfg) == (2 + 2, 2)
    only_reference = with_attention(tiny_cfg, content_encoder=False, decoder_upsampling=False)
    assert count(only_reference) == (1, 2)
    no_dis = with_attention(only_reference, discriminator=False)
    assert count(no_dis) == (1, 0)


def test_pooled_attention_uses_a_quarter_of_the_memory() -> None:
    assert attention_map_bytes(64, 64, pool_key_value=False) == 4096 * 4096 * 4
    assert attention_map_bytes(64, 64, pool_key_value=True) * 4 == attention_map_bytes(64, 64, pool_key_value=False)
    layer = SelfAttention(16, pool_key_value=True)
    layer.gamma.data.fill_(1.0)
    x = torch.randn(2, 16, 8, 12)
    assert layer(x).shape == x.shape


def test_layer_norm_has_no_batch_one_special_case() -> None:
    norm = LayerNorm2d(4)
    x = torch.randn(3, 4, 5, 6)
    assert torch.allclose(norm(x)[1:2], norm(x[1:2]), atol=1e-6)
    normalised = norm(x)
    assert torch.allclose(normalised.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)


def test_spectral_norm_wraps_every_discriminator_weight(tiny_cfg: ExperimentConfig) -> None:
    cfg = dataclasses.replace(tiny_cfg, dis=dataclasses.replace(tiny_cfg.dis, spectral_norm=True))
    model = build_model(cfg)
    layers = [m for m in model.dis_a.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    # N(0, 0.02) init reaches the stored weight, not a throw-away computed copy.
    stored = layers[1].parametrizations.weight.original
    assert abs(float(stored.detach().std()) - 0.02) < 0.004
    model.dis_a.train()
    with torch.no_grad():
        for _ in range(30):  # each training-mode forward runs one power iteration
            model.dis_a(torch.randn(2, 3, 32, 32))
    sigma = torch.linalg.matrix_norm(layers[1].weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1.0) < 0.05
    assert not any(parametrize.is_parametrized(m, "weight") for m in model.gen_a.modules()
                   if isinstance(m, (nn.Conv2d, nn.Linear)))
