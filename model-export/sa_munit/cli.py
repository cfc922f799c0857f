"""Command line: `python -m sa_munit <command>`. Every user error exits 2 with one clear message."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .attention_memory import format_table, placement_table
from .benchmark_data import BenchmarkConfigError, BenchmarkError, ShapesBenchmarkConfig, write_benchmark, write_preview
from .checkpoint import CheckpointError, load_checkpoint
from .config import ConfigError, ExperimentConfig, load_config
from .evaluate import EvaluationError
from .export import ExportError, ExportOptions, export_model, set_attention_gamma
from .image_folder import DataError
from .judges import JudgeError
from .manifest import ManifestError
from .networks import build_model, count_parameters

USER_ERRORS = (ConfigError, CheckpointError, ExportError, ManifestError, BenchmarkError, DataError, JudgeError,
               EvaluationError)
EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _config(path: str | None) -> ExperimentConfig:
    return load_config(path) if path else ExperimentConfig()


def cmd_export(args: argparse.Namespace) -> None:
    cfg = _config(args.config)
    if args.checkpoint:
        if args.attention_gamma is not None:
            raise ExportError("--attention-gamma is only for untrained exports; a checkpoint carries its learned gamma")
        cfg, model, _ = load_checkpoint(args.checkpoint, cfg if args.config else None)
    else:
        model = build_model(cfg)
        if args.attention_gamma is not None:
            set_attention_gamma(model, args.attention_gamma)
    metrics = None
    if args.metrics:
        try:
            metrics = json.loads(Path(args.metrics).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ExportError(f"--metrics {args.metrics}: cannot read JSON: {err}") from err
    options = ExportOptions(
        version=args.version,
        fixture_size=None if args.fixture_size == 0 else args.fixture_size,
        exporter=args.exporter,
        metrics=metrics,
        overwrite=args.overwrite,
        log=lambda message: print(message, file=sys.stderr),
    )
    manifest = export_model(cfg, model, args.out, options)
    total = sum(graph["bytes"] for graph in manifest["graphs"])
    print(f"exported {manifest['name']} {manifest['version']} ({manifest['architecture']}) to {args.out}: "
          f"{len(manifest['graphs'])} graphs, {total / 1e6:.1f} MB")


def cmd_params(args: argparse.Namespace) -> None:
    cfg = _config(args.config)
    model = build_model(cfg)
    gen = model.gen_a
    rows = {
        "content encoder": count_parameters(gen.content_encoder),
        "style encoder": count_parameters(gen.style_encoder),
        "MLP": count_parameters(gen.mlp),
        "decoder": count_parameters(gen.decoder),
        "generator (one domain)": count_parameters(gen),
        "discriminator (one domain, all scales)": count_parameters(model.dis_a),
    }
    print(f"{cfg.architecture} parameters:")
    for name, count in rows.items():
        print(f"  {name:40s} {count:>12,}")


def cmd_attention_memory(args: argparse.Namespace) -> None:
    print(format_table(placement_table(_config(args.config), args.sizes)))


def cmd_bench_torch(args: argparse.Namespace) -> None:
    from .bench_torch import run_bench  # imported here: only the benchmark needs it

    run_bench(Path(args.out), args.sizes, args.batches, args.repeats, log=lambda m: print(m, file=sys.stderr))


# make-benchmark options, by the config field they set (so errors name the option the user typed).
BENCHMARK_OPTIONS = {"image_size": "--image-size", "train_per_domain": "--train", "test_per_domain": "--test", "seed": "--seed"}


def cmd_make_benchmark(args: argparse.Namespace) -> None:
    try:
        cfg = ShapesBenchmarkConfig(
            image_size=args.image_size, train_per_domain=args.train, test_per_domain=args.test, seed=args.seed
        )
    except BenchmarkConfigError as err:
        problems = [f"{BENCHMARK_OPTIONS.get(name, name)}: {problem}" for name, problem in err.problems]
        raise ConfigError("invalid make-benchmark options:\n  " + "\n  ".join(problems)) from err
    info = write_benchmark(cfg, args.out, overwrite=args.overwrite)
    counts = ", ".join(f"{name} {count}" for name, count in info["counts"].items())
    print(f"wrote shapes benchmark to {args.out}: {counts} ({cfg.image_size}x{cfg.image_size})")
    if args.preview:
        print(f"wrote preview grid to {write_preview(cfg, args.preview)}")


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from .train import TrainingError, resolve_device, run  # imported here: only training needs it

    cfg = load_config(args.config)
    if args.max_iter is not None:
        if args.max_iter <= 0:
            raise ConfigError(f"--max-iter: must be a positive integer (got {args.max_iter})")
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_iter=args.max_iter))
    try:
        device = resolve_device(args.device)
        result = run(cfg, args.data, args.run_dir, device=device, resume=args.resume,
                     log=lambda message: print(message, file=sys.stderr))
    except TrainingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.run_dir}: iteration {result.iteration} of {cfg.train.max_iter} on {device}")
    return EXIT_INTERRUPTED if result.interrupted else 0


def cmd_train_judges(args: argparse.Namespace) -> None:
    from .judges import JudgeTrainConfig, save_judges, train_judges

    if args.iterations <= 0:
        raise ConfigError(f"--iterations: must be a positive integer (got {args.iterations})")
    judges = train_judges(args.data, JudgeTrainConfig(iterations=args.iterations, seed=args.seed))
    save_judges(judges, args.out)
    quality = judges.trained["test"]
    print(f"wrote {args.out}: on the test split classifier accuracy {quality['classifier_accuracy']:.3f}, "
          f"segmenter mean IoU {quality['segmenter_mean_iou']:.3f} ({quality['images']} images)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import EvalConfig, evaluate, markdown_report, open_backend, translation_grid, write_report
    from .judges import load_judges

    if args.styles < 2:
        raise ConfigError(f"--styles: must be >= 2 (got {args.styles})")
    if args.max_images is not None and args.max_images <= 0:
        raise ConfigError(f"--max-images: must be a positive integer (got {args.max_images})")
    backend = open_backend(args.checkpoint, args.onnx)
    result = evaluate(backend, load_judges(args.judges), args.data,
                      EvalConfig(styles=args.styles, max_images=args.max_images, seed=args.seed))
    json_path, md_path = write_report(result, args.out)
    grid_path = Path(args.out) / "translations.png"
    translation_grid(backend, args.data, seed=args.seed).save(grid_path)
    print(markdown_report(result))
    print(f"wrote {json_path}, {md_path} and {grid_path}")


def cmd_ablation(args: argparse.Namespace) -> int:
    from .ablation import AblationPlan, markdown_summary, run_ablation
    from .evaluate import EvalConfig
    from .train import TrainingError, resolve_device

    if args.max_iter <= 0:
        raise ConfigError(f"--max-iter: must be a positive integer (got {args.max_iter})")
    if len(args.arms) < 2:
        raise ConfigError("--arms: give at least two experiment configs")
    plan = AblationPlan(arms=tuple(Path(p) for p in args.arms), seeds=tuple(args.seeds), max_iter=args.max_iter,
                        data=Path(args.data), judges=Path(args.judges), out=Path(args.out),
                        eval=EvalConfig(styles=args.styles, max_images=args.max_images))
    try:
        summary = run_ablation(plan, resolve_device(args.device), log=lambda message: print(message, file=sys.stderr))
    except TrainingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown_summary(summary))
    print(f"wrote {Path(args.out) / 'ablation.md'} and {Path(args.out) / 'ablation.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sa_munit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export ONNX graphs, manifest.json and parity fixtures")
    export.add_argument("--config", help="experiment YAML (default: the reference SA-MUNIT config)")
    export.add_argument("--checkpoint", help="trained checkpoint; without one the weights are randomly initialised")
    export.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    export.add_argument("--version", required=True, help="immutable version label, e.g. 2026-11-27.1")
    export.add_argument("--fixture-size", type=int, default=64, help="side of the parity fixtures; 0 writes none")
    export.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript")
    export.add_argument("--metrics", help="JSON file of training/evaluation metrics to embed in the manifest")
    export.add_argument("--attention-gamma", type=float, help="set every attention gamma (untrained test exports)")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    export.set_defaults(run=cmd_export)

    params = commands.add_parser("params", help="parameter counts of each network")
    params.add_argument("--config")
    params.set_defaults(run=cmd_params)

    memory = commands.add_parser("attention-memory", help="attention-map memory per image for each placement")
    memory.add_argument("--config")
    memory.add_argument("--sizes", type=_int_list, default=[256, 512])
    memory.set_defaults(run=cmd_attention_memory)

    bench = commands.add_parser("bench-torch", help="PyTorch eager timings for npm run bench:model")
    bench.add_argument("--out", required=True)
    bench.add_argument("--sizes", type=_int_list, default=[128, 256])
    bench.add_argument("--batches", type=_int_list, default=[1, 4])
    bench.add_argument("--repeats", type=int, default=5)
    bench.set_defaults(run=cmd_bench_torch)

    shapes = commands.add_parser("make-benchmark", help="write the synthetic circles-vs-squares benchmark")
    shapes.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    shapes.add_argument("--image-size", type=int, default=64, help="image side in pixels")
    shapes.add_argument("--train", type=int, default=2000, help="training images per domain")
    shapes.add_argument("--test", type=int, default=200, help="test images per domain")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--preview", help="also write a PNG grid of 8 circles and 8 squares to this file")
    shapes.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    shapes.set_defaults(run=cmd_make_benchmark)

    train = commands.add_parser("train", help="train on unpaired folders trainA/ trainB/ (testA/ testB/ for samples)")
    train.add_argument("--config", required=True, help="experiment YAML with a train: section")
    train.add_argument("--data", required=True, help="folder holding trainA/ and trainB/ (testA/ testB/ optional)")
    train.add_argument("--run", dest="run_dir", required=True, help="run folder: config copy, checkpoint, log, samples")
    train.add_argument("--resume", action="store_true", help="continue from <run>/checkpoint.pt")
    train.add_argument("--max-iter", type=int, help="override train.max_iter")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.set_defaults(run=cmd_train)
    judges = commands.add_parser("train-judges", help="train the evaluation's domain classifier and object segmenter")
    judges.add_argument("--data", required=True, help="shapes benchmark folder (make-benchmark)")
    judges.add_argument("--out", required=True, help="judges file to write, e.g. judges.pt")
    judges.add_argument("--iterations", type=int, default=1000)
    judges.add_argument("--seed", type=int, default=0)
    judges.set_defaults(run=cmd_train_judges)

    evaluation = commands.add_parser("evaluate", help="metrics of a checkpoint or an ONNX export on the test split")
    source = evaluation.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="training checkpoint (checkpoint.pt)")
    source.add_argument("--onnx", help="exported model folder (manifest.json and graphs)")
    evaluation.add_argument("--data", required=True, help="shapes benchmark folder at the model's image size")
    evaluation.add_argument("--judges", required=True, help="judges file from train-judges")
    evaluation.add_argument("--out", required=True, help="folder for evaluation.json, evaluation.md, translations.png")
    evaluation.add_argument("--styles", type=int, default=10, help="style codes per input")
    evaluation.add_argument("--max-images", type=int, help="test images per domain (default: all)")
    evaluation.add_argument("--seed", type=int, default=0, help="picks the style codes")
    evaluation.set_defaults(run=cmd_evaluate)

    ablation = commands.add_parser("ablation", help="train and evaluate arms (e.g. SA-MUNIT vs MUNIT) over seeds")
    ablation.add_argument("--arms", nargs="+", required=True, help="experiment configs that differ in attention only")
    ablation.add_argument("--seeds", type=_int_list, default=[1, 2, 3], help="comma-separated positive seeds")
    ablation.add_argument("--max-iter", type=int, required=True, help="iterations per run (the shared budget)")
    ablation.add_argument("--data", required=True, help="shapes benchmark folder")
    ablation.add_argument("--judges", required=True, help="judges file from train-judges")
    ablation.add_argument("--out", required=True, help="folder for <arm>/seed<k>/ runs and ablation.md/json")
    ablation.add_argument("--styles", type=int, default=10)
    ablation.add_argument("--max-images", type=int, help="test images per domain (default: all)")
    ablation.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ablation.set_defaults(run=cmd_ablation)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.backends.nnpack.set_flags(False)  # unsupported on many CPUs; it only prints warnings
    try:
        code = args.run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return code or 0
