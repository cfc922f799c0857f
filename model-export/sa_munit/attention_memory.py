"""Attention memory per image: the size of each attention map (queries x keys, float32)."""

from __future__ import annotations

from dataclasses import replace

from .config import AttentionConfig, ExperimentConfig
from .networks import attention_map_bytes, attention_sites

MIB = 1024 * 1024
PLACEMENTS = ("content_encoder", "decoder_bottleneck", "decoder_upsampling", "discriminator")


def generator_attention_bytes(cfg: ExperimentConfig, height: int, width: int) -> int:
    """Attention-map bytes for one image through one translator (no discriminator)."""
    return sum(
        attention_map_bytes(h, w, cfg.attention.pool_key_value)
        for site, _, h, w in attention_sites(cfg, height, width)
        if not site.startswith("discriminator")
    )


def placement_table(cfg: ExperimentConfig, sizes: list[int]) -> list[dict[str, object]]:
    """One row per (placement, pooling, size) with that placement alone switched on."""
    rows: list[dict[str, object]] = []
    for placement in PLACEMENTS:
        for pool in (False, True):
            only = AttentionConfig(
                enabled=True, pool_key_value=pool, **{p: p == placement for p in PLACEMENTS}
            )
            single = replace(cfg, attention=only)
            for size in sizes:
                sites = attention_sites(single, size, size)
                rows.append(
                    {
                        "placement": placement,
                        "pool_key_value": pool,
                        "size": size,
                        "layers": len(sites),
                        "feature_maps": ", ".join(f"{c}x{h}x{w}" for _, c, h, w in sites),
                        "bytes": sum(attention_map_bytes(h, w, pool) for _, _, h, w in sites),
                    }
                )
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| placement | pooled k/v | image | layers | feature maps (C x H x W) | attention maps per image |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        mib = int(row["bytes"]) / MIB  # type: ignore[arg-type]
        lines.append(
            f"| {row['placement']} | {'yes' if row['pool_key_value'] else 'no'} | {row['size']}² | {row['layers']} "
            f"| {row['feature_maps']} | {mib:,.2f} MiB |"
        )
    return "\n".join(lines)
