"""SA-MUNIT: MUNIT (Huang et al., arXiv 1804.04732) with SAGAN self-attention (Zhang et al.,
arXiv 1805.08318) in the generator and the discriminator (Kang & Lee, arXiv 1901.08242).

Written from the papers. One generator per domain, as in MUNIT: a content encoder, a style encoder,
an MLP that turns a style code into AdaIN parameters, and a decoder. Translation A->B is
`gen_b.decode(gen_a.encode_content(x_a), style_b)`.

The style reaches the decoder as a tensor argument (never written into modules at run time), and
AdaIN is instance normalisation followed by a per-sample affine, so the graph exports to ONNX
InstanceNormalization and stays correct for any batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .config import (
    STYLE_ENCODER_DOWNSAMPLINGS,
    Activation,
    AttentionConfig,
    DisConfig,
    ExperimentConfig,
    GenConfig,
    PadType,
)

NORM_EPS = 1e-5
LEAKY_SLOPE = 0.2
DIS_INIT_STD = 0.02
QUERY_KEY_REDUCTION = 8  # SAGAN: query and key project to C/8 channels


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------


def make_activation(kind: Activation) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=False)
    if kind == "lrelu":
        return nn.LeakyReLU(LEAKY_SLOPE, inplace=False)
    if kind == "tanh":
        return nn.Tanh()
    return nn.Identity()


def make_padding(kind: PadType, amount: int) -> nn.Module:
    if amount == 0:
        return nn.Identity()
    if kind == "reflect":
        return nn.ReflectionPad2d(amount)
    if kind == "replicate":
        return nn.ReplicationPad2d(amount)
    return nn.ZeroPad2d(amount)


class LayerNorm2d(nn.Module):
    """Normalises each sample over C x H x W, then a per-channel affine.

    Written with reductions rather than nn.LayerNorm so that H and W stay dynamic in the exported
    graph, and with no batch-1 special case (a traced special case bakes batch-1 statistics in).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) / torch.sqrt(var + NORM_EPS)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def adaptive_instance_norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """AdaIN: instance norm without learned affine, then a per-sample affine.

    x [N,C,H,W]; scale, shift [N,C] (from the style MLP).
    """
    normalised = F.instance_norm(x, eps=NORM_EPS)
    return normalised * scale[:, :, None, None] + shift[:, :, None, None]


class ConvBlock(nn.Module):
    """Explicit padding, conv with bias, optional norm, activation: every conv of the model."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        padding: int,
        norm: str,
        activ: Activation,
        pad_type: PadType,
    ) -> None:
        super().__init__()
        self.pad = make_padding(pad_type, padding)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, bias=True)
        if norm == "in":
            self.norm: nn.Module = nn.InstanceNorm2d(out_channels, eps=NORM_EPS, affine=False)
        elif norm == "ln":
            self.norm = LayerNorm2d(out_channels)
        else:
            self.norm = nn.Identity()
        self.activ = make_activation(activ)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activ(self.norm(self.conv(self.pad(x))))


class ResBlock(nn.Module):
    """Two 3x3 convs, the second without activation, plus the skip (instance norm)."""

    def __init__(self, channels: int, activ: Activation, pad_type: PadType) -> None:
        super().__init__()
        self.conv1 = ConvBlock(channels, channels, 3, 1, 1, "in", activ, pad_type)
        self.conv2 = ConvBlock(channels, channels, 3, 1, 1, "in", "none", pad_type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class AdaINResBlock(nn.Module):
    """A residual block whose two norms are AdaIN driven by 4*C parameters per sample."""

    def __init__(self, channels: int, activ: Activation, pad_type: PadType) -> None:
        super().__init__()
        self.channels = channels
        self.pad1 = make_padding(pad_type, 1)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, bias=True)
        self.activ = make_activation(activ)
        self.pad2 = make_padding(pad_type, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, bias=True)

    @property
    def num_adain_params(self) -> int:
        return 4 * self.channels  # (shift, scale) for each of the two norms

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # params [N, 4C], laid out as shift1 | scale1 | shift2 | scale2
        shift1, scale1, shift2, scale2 = params.split(self.channels, dim=1)
        h = self.activ(adaptive_instance_norm(self.conv1(self.pad1(x)), scale1, shift1))
        h = adaptive_instance_norm(self.conv2(self.pad2(h)), scale2, shift2)
        return x + h


class SelfAttention(nn.Module):
    """SAGAN self-attention: y = x + gamma * attention(x), gamma a scalar initialised to 0.

    1x1 query and key convs to C/8 channels, a 1x1 value conv to C channels, softmax over keys.
    With pool_key_value, keys and values are max-pooled 2x2 first (BigGAN), so the attention map
    is (HW) x (HW/4) instead of (HW) x (HW).
    """

    def __init__(self, channels: int, pool_key_value: bool) -> None:
        super().__init__()
        reduced = max(1, channels // QUERY_KEY_REDUCTION)
        self.query = nn.Conv2d(channels, reduced, 1, bias=True)
        self.key = nn.Conv2d(channels, reduced, 1, bias=True)
        self.value = nn.Conv2d(channels, channels, 1, bias=True)
        self.gamma = nn.Parameter(torch.zeros(()))
        self.pool_key_value = pool_key_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        query = self.query(x).flatten(2)  # [N, C/8, HW]
        key, value = self.key(x), self.value(x)
        if self.pool_key_value:
            key, value = F.max_pool2d(key, 2), F.max_pool2d(value, 2)
        key, value = key.flatten(2), value.flatten(2)  # [N, C/8, K], [N, C, K]
        attention = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=-1)  # [N, HW, K]
        attended = torch.bmm(value, attention.transpose(1, 2))  # [N, C, HW]
        return x + self.gamma * attended.view(n, c, h, w)


def attention_map_bytes(height: int, width: int, pool_key_value: bool, bytes_per_value: int = 4) -> int:
    """Size of one attention map (queries x keys) for one image at a feature resolution."""
    queries = height * width
    keys = (height // 2) * (width // 2) if pool_key_value else queries
    return queries * keys * bytes_per_value


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


class ContentEncoder(nn.Module):
    """7x7 conv -> n_downsample 4x4 stride-2 convs (doubling channels) -> n_res residual blocks."""

    def __init__(self, gen: GenConfig, attention: AttentionConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(3, gen.dim, 7, 1, 3, "in", gen.activ, gen.pad_type)]
        channels = gen.dim
        for _ in range(gen.n_downsample):
            if attention.site_enabled("content_encoder"):
                layers.append(SelfAttention(channels, attention.pool_key_value))
            layers.append(ConvBlock(channels, channels * 2, 4, 2, 1, "in", gen.activ, gen.pad_type))
            channels *= 2
        layers += [ResBlock(channels, gen.activ, gen.pad_type) for _ in range(gen.n_res)]
        self.model = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)  # [N, dim * 2^n_down, H / 2^n_down, W / 2^n_down]


class StyleEncoder(nn.Module):
    """7x7 conv -> 2 stride-2 convs doubling channels -> 2 more keeping them -> pool -> 1x1 conv."""

    def __init__(self, gen: GenConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(3, gen.dim, 7, 1, 3, "none", gen.activ, gen.pad_type)]
        channels = gen.dim
        for i in range(STYLE_ENCODER_DOWNSAMPLINGS):
            out = channels * 2 if i < 2 else channels
            layers.append(ConvBlock(channels, out, 4, 2, 1, "none", gen.activ, gen.pad_type))
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, gen.style_dim, 1, 1, bias=True)]
        self.model = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image).flatten(1)  # [N, style_dim]


class StyleMLP(nn.Module):
    """style_dim -> mlp_dim -> mlp_dim -> every AdaIN parameter of the decoder."""

    def __init__(self, style_dim: int, hidden: int, out_features: int, activ: Activation) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(style_dim, hidden),
            make_activation(activ),
            nn.Linear(hidden, hidden),
            make_activation(activ),
            nn.Linear(hidden, out_features),
        )

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.model(style)


class Upsampling(nn.Module):
    """Nearest x2, 5x5 conv halving channels, layer norm, activation."""

    def __init__(self, channels: int, gen: GenConfig) -> None:
        super().__init__()
        self.conv = ConvBlock(channels, channels // 2, 5, 1, 2, "ln", gen.activ, gen.pad_type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    """AdaIN residual blocks -> attention -> n_downsample upsamplings -> 7x7 conv to RGB, tanh."""

    def __init__(self, in_channels: int, gen: GenConfig, attention: AttentionConfig) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            [AdaINResBlock(in_channels, gen.activ, gen.pad_type) for _ in range(gen.n_res)]
        )
        self.bottleneck_attention: nn.Module = (
            SelfAttention(in_channels, attention.pool_key_value)
            if attention.site_enabled("decoder_bottleneck")
            else nn.Identity()
        )
        up: list[nn.Module] = []
        channels = in_channels
        for i in range(gen.n_downsample):
            # The bottleneck attention already sits before the first upsampling.
            if attention.site_enabled("decoder_upsampling") and not (
                i == 0 and attention.site_enabled("decoder_bottleneck")
            ):
                up.append(SelfAttention(channels, attention.pool_key_value))
            up.append(Upsampling(channels, gen))
            channels //= 2
        self.upsampling = nn.Sequential(*up)
        self.to_rgb = ConvBlock(channels, 3, 7, 1, 3, "none", "tanh", gen.pad_type)

    @property
    def num_adain_params(self) -> int:
        return sum(block.num_adain_params for block in self.res_blocks)  # type: ignore[misc]

    def forward(self, content: torch.Tensor, adain_params: torch.Tensor) -> torch.Tensor:
        x = content
        offset = 0
        for block in self.res_blocks:
            count = block.num_adain_params  # type: ignore[union-attr]
            x = block(x, adain_params[:, offset : offset + count])
            offset += count
        x = self.bottleneck_attention(x)
        return self.to_rgb(self.upsampling(x))  # [N, 3, H, W] in [-1, 1]


class DomainGenerator(nn.Module):
    """One domain's generator (MUNIT's AdaIN generator): encode to (content, style), decode back."""

    def __init__(self, gen: GenConfig, attention: AttentionConfig) -> None:
        super().__init__()
        self.content_encoder = ContentEncoder(gen, attention)
        self.style_encoder = StyleEncoder(gen)
        self.decoder = Decoder(self.content_encoder.out_channels, gen, attention)
        self.mlp = StyleMLP(gen.style_dim, gen.mlp_dim, self.decoder.num_adain_params, gen.activ)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.content_encoder(image), self.style_encoder(image)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(content, self.mlp(style))


# --------------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------------


class ScaleDiscriminator(nn.Module):
    """n_layer 4x4 stride-2 convs (doubling channels, lrelu) -> attention -> 1x1 conv to a patch map."""

    def __init__(self, dis: DisConfig, attention: AttentionConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, out = 3, dis.dim
        for _ in range(dis.n_layer):
            layers.append(ConvBlock(channels, out, 4, 2, 1, dis.norm, dis.activ, dis.pad_type))
            channels, out = out, out * 2
        if attention.site_enabled("discriminator"):
            layers.append(SelfAttention(channels, attention.pool_key_value))
        layers.append(nn.Conv2d(channels, 1, 1, 1, bias=True))
        self.model = nn.Sequential(*layers)
        if dis.spectral_norm:
            self.model.apply(_spectral_norm_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


def _spectral_norm_weights(module: nn.Module) -> None:
    # Applied after construction so ConvBlock and SelfAttention stay unaware of it; the discriminator
    # is never exported, so the parametrisation only has to train and checkpoint.
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.utils.parametrizations.spectral_norm(module)


class MultiScaleDiscriminator(nn.Module):
    """One discriminator per scale; 3x3 average pooling (stride 2, padding not counted) between."""

    def __init__(self, dis: DisConfig, attention: AttentionConfig) -> None:
        super().__init__()
        self.scales = nn.ModuleList([ScaleDiscriminator(dis, attention) for _ in range(dis.num_scales)])
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, scale in enumerate(self.scales):
            if index > 0:
                image = self.downsample(image)
            outputs.append(scale(image))
        return outputs


# --------------------------------------------------------------------------------------------------
# The model and its initialisation
# --------------------------------------------------------------------------------------------------


@dataclass
class SAMUNIT:
    """Both domains' generators and discriminators, as MUNIT trains them."""

    gen_a: DomainGenerator
    gen_b: DomainGenerator
    dis_a: MultiScaleDiscriminator
    dis_b: MultiScaleDiscriminator

    def generator(self, domain: str) -> DomainGenerator:
        return self.gen_a if domain == "a" else self.gen_b


def kaiming_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def gaussian_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        # Under spectral norm `weight` is computed on each access; the stored tensor is `original`.
        weight = module.parametrizations.weight.original if parametrize.is_parametrized(module, "weight") \
            else module.weight
        nn.init.normal_(weight, 0.0, DIS_INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def build_model(cfg: ExperimentConfig, seed: int | None = None) -> SAMUNIT:
    """Builds all four networks with MUNIT's initialisation, deterministic for a seed."""
    # fork_rng keeps the caller's global RNG untouched: building a model has no side effects.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed if seed is None else seed)
        model = SAMUNIT(
            gen_a=DomainGenerator(cfg.gen, cfg.attention),
            gen_b=DomainGenerator(cfg.gen, cfg.attention),
            dis_a=MultiScaleDiscriminator(cfg.dis, cfg.attention),
            dis_b=MultiScaleDiscriminator(cfg.dis, cfg.attention),
        )
        model.gen_a.apply(kaiming_init)
        model.gen_b.apply(kaiming_init)
        model.dis_a.apply(gaussian_init)
        model.dis_b.apply(gaussian_init)
    return model


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def attention_sites(cfg: ExperimentConfig, height: int, width: int) -> list[tuple[str, int, int, int]]:
    """Every attention layer the config builds: (site, channels, feature height, feature width).

    The generator entries are per domain generator; the discriminator entries per discriminator.
    """
    gen, att = cfg.gen, cfg.attention
    sites: list[tuple[str, int, int, int]] = []
    if att.site_enabled("content_encoder"):
        for i in range(gen.n_downsample):
            sites.append(("content_encoder", gen.dim * 2**i, height >> i, width >> i))
    bottleneck_channels = gen.dim * 2**gen.n_downsample
    if att.site_enabled("decoder_bottleneck"):
        sites.append(("decoder_bottleneck", bottleneck_channels, height >> gen.n_downsample, width >> gen.n_downsample))
    if att.site_enabled("decoder_upsampling"):
        for i in range(gen.n_downsample):
            if i == 0 and att.site_enabled("decoder_bottleneck"):
                continue
            level = gen.n_downsample - i
            sites.append(("decoder_upsampling", bottleneck_channels >> i, height >> level, width >> level))
    if att.site_enabled("discriminator"):
        channels = cfg.dis.dim * 2 ** (cfg.dis.n_layer - 1)
        for scale in range(cfg.dis.num_scales):
            size_h = math.ceil(height / 2**scale) >> cfg.dis.n_layer
            size_w = math.ceil(width / 2**scale) >> cfg.dis.n_layer
            sites.append((f"discriminator_scale{scale}", channels, size_h, size_w))
    return sites
