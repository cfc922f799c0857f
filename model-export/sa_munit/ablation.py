"""The paper's ablation: SA-MUNIT versus plain MUNIT, same budget, same seeds, side by side.

Each arm is an experiment config. The arms may differ in `attention` (and their names) only: the
run refuses arms whose generator, discriminator, image size or training recipe differ, so a change
made to one arm alone cannot creep in. For every (arm, seed) the weights and the data stream are
seeded with that seed, the run trains for the same number of iterations, and the evaluation uses
the same judges and style codes. Runs resume: a finished run or evaluation is never redone, an
interrupted one continues from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import saved_iteration
from .config import ConfigError, ExperimentConfig, load_config
from .evaluate import (
    METRIC_ROWS,
    CheckpointBackend,
    EvalConfig,
    evaluate,
    format_value,
    metric_mean,
    write_report,
    write_text_atomically,
)
from .judges import load_judges
from .train import CHECKPOINT_FILE, TrainingError, run

SHARED_SECTIONS = ("image_size", "gen", "dis", "train")


@dataclass(frozen=True)
class AblationPlan:
    arms: tuple[Path, ...]  # experiment configs, one per arm
    seeds: tuple[int, ...]
    max_iter: int  # the budget of every run
    data: Path
    judges: Path
    out: Path
    eval: EvalConfig = EvalConfig()


def check_arms(configs: list[tuple[Path, ExperimentConfig]]) -> None:
    """Arms must share everything but attention; names must differ (they name the run folders)."""
    problems = []
    first_path, first = configs[0]
    for path, cfg in configs[1:]:
        for section in SHARED_SECTIONS:
            if getattr(cfg, section) != getattr(first, section):
                problems.append(f"{path}: {section} differs from {first_path} (arms may differ in attention only)")
    names = [cfg.name for _, cfg in configs]
    if len(set(names)) != len(names):
        problems.append(f"arm names must differ (got {', '.join(names)})")
    if problems:
        raise ConfigError("invalid ablation arms:\n  " + "\n  ".join(problems))


def seeded(cfg: ExperimentConfig, seed: int, max_iter: int) -> ExperimentConfig:
    # One seed drives initialisation, data order, augmentation and the sampled style codes.
    train = dataclasses.replace(cfg.train, seed=seed, max_iter=max_iter,
                                checkpoint_every=min(cfg.train.checkpoint_every, max_iter),
                                sample_every=min(cfg.train.sample_every, max_iter))
    return dataclasses.replace(cfg, seed=seed, train=train)


def run_ablation(plan: AblationPlan, device: torch.device, log: Callable[[str], None] = print) -> dict[str, Any]:
    configs = [(path, load_config(path)) for path in plan.arms]
    check_arms(configs)
    judges = load_judges(plan.judges)
    results: dict[str, dict[int, dict[str, Any]]] = {base.name: {} for _, base in configs}
    # Seed-major order: wherever a long ablation is stopped, every arm has the same seeds done.
    for seed in plan.seeds:
        for _, base in configs:
            cfg = seeded(base, seed, plan.max_iter)
            run_dir = plan.out / base.name / f"seed{seed}"
            checkpoint = run_dir / CHECKPOINT_FILE
            done = saved_iteration(checkpoint) if checkpoint.is_file() else None
            if done is not None and done > plan.max_iter:
                raise ConfigError(f"{checkpoint} is at iteration {done}, beyond the budget of {plan.max_iter} "
                                  "(use another --out folder for a smaller budget)")
            if done is None or done < plan.max_iter:
                log(f"{base.name} seed {seed}: training to iteration {plan.max_iter}"
                    + (f" (resuming at {done})" if done is not None else ""))
                result = run(cfg, plan.data, run_dir, device=device, resume=done is not None, log=log)
                if result.interrupted:
                    raise TrainingError(f"{base.name} seed {seed} was interrupted; run the ablation again to resume")
            report = run_dir / "evaluation.json"
            evaluation = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
            if evaluation is None or evaluation.get("model", {}).get("iteration") != plan.max_iter \
                    or evaluation.get("config") != dataclasses.asdict(plan.eval):
                log(f"{base.name} seed {seed}: evaluating")
                evaluation = evaluate(CheckpointBackend(checkpoint), judges, plan.data, plan.eval)
                write_report(evaluation, run_dir)
            results[base.name][seed] = evaluation
    summary = summarise(results, plan)
    write_summary(summary, plan.out)
    return summary


def summarise(results: dict[str, dict[int, dict[str, Any]]], plan: AblationPlan) -> dict[str, Any]:
    arms: dict[str, Any] = {}
    for name, by_seed in results.items():
        metrics: dict[str, Any] = {}
        for direction in ("a2b", "b2a"):
            for key, _, _ in METRIC_ROWS:
                values = [metric_mean(r["directions"][direction][key]) for r in by_seed.values()]
                present = [v for v in values if v is not None]
                metrics[f"{direction}/{key}"] = {"mean": float(np.mean(present)), "sd": float(np.std(present, ddof=1))
                                                 if len(present) > 1 else 0.0, "per_seed": values} if present else None
        final_gammas = {seed: r["attention_gammas"] for seed, r in by_seed.items()}
        arms[name] = {"metrics": metrics, "attention_gammas": final_gammas}
    return {"seeds": list(plan.seeds), "max_iter": plan.max_iter, "data": str(plan.data), "judges": str(plan.judges),
            "arms": arms, "eval": dataclasses.asdict(plan.eval)}


def markdown_summary(summary: dict[str, Any]) -> str:
    names = list(summary["arms"])
    lines = [
        "# Ablation: " + " vs ".join(names),
        "",
        f"{summary['max_iter']} iterations per run, seeds {', '.join(map(str, summary['seeds']))}; "
        "mean ± sd over seeds (sample sd; 0 with one seed).",
        "",
    ]
    for direction, title in (("a2b", "A→B"), ("b2a", "B→A")):
        lines += [f"## {title}", "", "| metric | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for key, label, decimals in METRIC_ROWS:
            cells = [format_value(summary["arms"][n]["metrics"][f"{direction}/{key}"], decimals) for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_summary(summary: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "ablation.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomically(out / "ablation.md", markdown_summary(summary))
