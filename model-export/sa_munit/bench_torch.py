"""PyTorch-eager side of `npm run bench:model`: exports both architectures at the default config and
times their a2b translator, so that onnxruntime-node can be timed on the same weights and shapes.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .attention_memory import generator_attention_bytes
from .config import AttentionConfig, ExperimentConfig
from .export import ExportOptions, TranslatorGraph, export_model, set_attention_gamma
from .networks import build_model
from .seed_style import style_from_seed

BENCH_GAMMA = 0.1  # non-zero so the attention path does real work, as in a trained model


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _time_ms(run, repeats: int) -> float:
    run()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run_bench(out: Path, sizes: list[int], batches: list[int], repeats: int, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = ExperimentConfig()
    results = []
    for arch, enabled in (("sa-munit", True), ("munit", False)):
        cfg = replace(base, name=arch, attention=replace(AttentionConfig(), enabled=enabled))
        model = build_model(cfg)
        set_attention_gamma(model, BENCH_GAMMA)
        log(f"exporting {arch} (default config) to {out / arch}")
        export_model(cfg, model, out / arch, ExportOptions(version="bench", fixture_size=None, overwrite=True))
        translator = TranslatorGraph(model.gen_a, model.gen_b).eval()
        for size in sizes:
            for batch in batches:
                image = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(size + batch)) * 2 - 1
                style = torch.from_numpy(np.stack([style_from_seed(i, cfg.gen.style_dim) for i in range(batch)]))

                def run() -> None:
                    with torch.inference_mode():
                        translator(image, style)

                ms = _time_ms(run, repeats)
                log(f"{arch} {size}² batch {batch}: {ms / batch:.1f} ms/image")
                results.append(
                    {
                        "arch": arch,
                        "size": size,
                        "batch": batch,
                        "ms_per_image": ms / batch,
                        "attention_bytes_per_image": generator_attention_bytes(cfg, size, size),
                    }
                )
    report = {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "results": results,
    }
    (out / "torch-timings.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
