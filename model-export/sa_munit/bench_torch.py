"""PyTorch-eager side of `npm run bench:model`: exports both architectures at the default config and
times their a2b translator, so that onnxruntime-node can be timed on the same weights and shapes.

It also counts each translator's floating-point work and writes a plain fp32 matmul graph, so the
report can say how close each runtime comes to this machine's compute ceiling.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from .attention_memory import generator_attention_bytes
from .config import AttentionConfig, ExperimentConfig
from .export import OPSET, ExportOptions, TranslatorGraph, export_model, set_attention_gamma
from .networks import SelfAttention, build_model
from .seed_style import style_from_seed

BENCH_GAMMA = 0.1  # non-zero so the attention path does real work, as in a trained model
WARMUP_RUNS = 2
MATMUL_SIDE = 2048  # square fp32 matmul used as the compute-ceiling reference
MATMUL_FILE = "matmul.onnx"
MATMUL_IR_VERSION = 8  # read by every onnxruntime since 1.10


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _time_ms(run: Callable[[], object], repeats: int) -> float:
    for _ in range(WARMUP_RUNS):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-adds x 2 of convolutions, linear layers and attention products in one forward."""
    macs = 0

    def conv(mod: nn.Conv2d, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        macs += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    def linear(mod: nn.Linear, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        macs += out.numel() * mod.in_features

    def attention(mod: SelfAttention, args: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
        nonlocal macs
        n, c, h, w = args[0].shape
        queries = h * w
        keys = (h // 2) * (w // 2) if mod.pool_key_value else queries
        macs += n * queries * keys * (mod.query.out_channels + c)  # q·k and attention·v

    handles = []
    for mod in module.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear))
        elif isinstance(mod, SelfAttention):
            handles.append(mod.register_forward_hook(attention))
    try:
        with torch.inference_mode():
            module(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return 2 * macs


def _write_matmul_graph(path: Path) -> None:
    shape = [MATMUL_SIDE, MATMUL_SIDE]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, shape), helper.make_tensor_value_info("b", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, shape)],
    )
    # IR version pinned: the default of a newer onnx package can be ahead of what onnxruntime reads.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=MATMUL_IR_VERSION)
    onnx.save(model, str(path))


def _matmul_gflops(repeats: int) -> float:
    a, b = torch.randn(MATMUL_SIDE, MATMUL_SIDE), torch.randn(MATMUL_SIDE, MATMUL_SIDE)
    ms = _time_ms(lambda: a @ b, repeats)
    return 2 * MATMUL_SIDE**3 / (ms / 1000) / 1e9


def run_bench(out: Path, sizes: list[int], batches: list[int], repeats: int, log: Callable[[str], None] = print) -> dict:
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
                        "gflop_per_image": count_flops(translator, image[:1], style[:1]) / 1e9,
                        "attention_bytes_per_image": generator_attention_bytes(cfg, size, size),
                    }
                )
    _write_matmul_graph(out / MATMUL_FILE)
    report = {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "matmul": {"file": MATMUL_FILE, "side": MATMUL_SIDE, "torch_gflops": _matmul_gflops(repeats)},
        "results": results,
    }
    (out / "torch-timings.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
