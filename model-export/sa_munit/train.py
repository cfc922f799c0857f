"""Training loop: MUNIT's alternating updates on unpaired folders, resumable bit for bit.

Each iteration updates both discriminators on detached translations, then both generators on the
full objective (adversarial + image, content, style and optional cycle reconstruction), in that
order as MUNIT's reference schedule does. A run folder holds:

    config.yaml         the resolved experiment config
    checkpoint.pt       networks, optimisers, schedulers, iteration and RNG states (atomic write)
    log.jsonl           one line per log_every iterations: every loss, learning rates, each gamma
    samples/iter_N.png  sample grids
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import losses
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, saved_iteration
from .config import ExperimentConfig
from .image_folder import ImageStream, domain_folders, fixed_images, list_images
from .networks import SAMUNIT, SelfAttention, build_model

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"
NETWORK_NAMES = ("gen_a", "gen_b", "dis_a", "dis_b")
GRID_GAP = 2  # pixels between tiles of a sample grid


class TrainingError(RuntimeError):
    """Training cannot start or had to stop; the message says why and what was kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: no CUDA device is available")
    return torch.device(name)


def attention_gammas(model: SAMUNIT) -> dict[str, float]:
    return {
        f"gamma/{net}.{name}": float(module.gamma.detach())
        for net in NETWORK_NAMES
        for name, module in getattr(model, net).named_modules()
        if isinstance(module, SelfAttention)
    }


# --------------------------------------------------------------------------------------------------
# One iteration
# --------------------------------------------------------------------------------------------------


class Trainer:
    """Optimisers, schedulers and the two updates; the device is the caller's choice."""

    def __init__(self, cfg: ExperimentConfig, model: SAMUNIT, device: torch.device) -> None:
        self.cfg = cfg
        self.model = model
        self.device = device
        train = cfg.train
        for name in NETWORK_NAMES:
            getattr(model, name).to(device).train()
        gen_params = [*model.gen_a.parameters(), *model.gen_b.parameters()]
        dis_params = [*model.dis_a.parameters(), *model.dis_b.parameters()]
        betas = (train.beta1, train.beta2)
        self.gen_opt = torch.optim.Adam(gen_params, lr=train.lr, betas=betas, weight_decay=train.weight_decay)
        self.dis_opt = torch.optim.Adam(dis_params, lr=train.dis_lr, betas=betas, weight_decay=train.weight_decay)
        self.gen_sched = torch.optim.lr_scheduler.StepLR(self.gen_opt, train.lr_step, train.lr_gamma)
        self.dis_sched = torch.optim.lr_scheduler.StepLR(self.dis_opt, train.lr_step, train.lr_gamma)

    def _random_styles(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (batch, self.cfg.gen.style_dim)
        return torch.randn(shape).to(self.device), torch.randn(shape).to(self.device)  # CPU RNG: same on any device

    def dis_update(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        s_a, s_b = self._random_styles(x_a.shape[0])
        with torch.no_grad():
            x_ba = m.gen_a.decode(m.gen_b.encode(x_b)[0], s_a)
            x_ab = m.gen_b.decode(m.gen_a.encode(x_a)[0], s_b)
        dis_a = losses.lsgan_dis_loss(m.dis_a(x_ba), m.dis_a(x_a))
        dis_b = losses.lsgan_dis_loss(m.dis_b(x_ab), m.dis_b(x_b))
        total = self.cfg.train.gan_w * (dis_a + dis_b)
        named = {"dis/adv_a": dis_a, "dis/adv_b": dis_b, "dis/total": total}
        _check_finite(named)
        self.dis_opt.zero_grad(set_to_none=True)
        total.backward()
        self.dis_opt.step()
        return named

    def gen_update(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        m, w = self.model, self.cfg.train
        s_a, s_b = self._random_styles(x_a.shape[0])
        c_a, s_a_own = m.gen_a.encode(x_a)
        c_b, s_b_own = m.gen_b.encode(x_b)
        # Within-domain reconstruction.
        x_aa = m.gen_a.decode(c_a, s_a_own)
        x_bb = m.gen_b.decode(c_b, s_b_own)
        # Cross-domain translation with random styles, then re-encoding.
        x_ba = m.gen_a.decode(c_b, s_a)
        x_ab = m.gen_b.decode(c_a, s_b)
        c_b_re, s_a_re = m.gen_a.encode(x_ba)
        c_a_re, s_b_re = m.gen_b.encode(x_ab)
        named = {
            "gen/adv_a": losses.lsgan_gen_loss(m.dis_a(x_ba)),
            "gen/adv_b": losses.lsgan_gen_loss(m.dis_b(x_ab)),
            "gen/recon_x_a": losses.l1_recon(x_aa, x_a),
            "gen/recon_x_b": losses.l1_recon(x_bb, x_b),
            "gen/recon_s_a": losses.l1_recon(s_a_re, s_a),
            "gen/recon_s_b": losses.l1_recon(s_b_re, s_b),
            "gen/recon_c_a": losses.l1_recon(c_a_re, c_a),
            "gen/recon_c_b": losses.l1_recon(c_b_re, c_b),
        }
        total = (
            w.gan_w * (named["gen/adv_a"] + named["gen/adv_b"])
            + w.recon_x_w * (named["gen/recon_x_a"] + named["gen/recon_x_b"])
            + w.recon_s_w * (named["gen/recon_s_a"] + named["gen/recon_s_b"])
            + w.recon_c_w * (named["gen/recon_c_a"] + named["gen/recon_c_b"])
        )
        if w.recon_x_cyc_w > 0:
            named["gen/recon_x_cyc_a"] = losses.l1_recon(m.gen_a.decode(c_a_re, s_a_own), x_a)
            named["gen/recon_x_cyc_b"] = losses.l1_recon(m.gen_b.decode(c_b_re, s_b_own), x_b)
            total = total + w.recon_x_cyc_w * (named["gen/recon_x_cyc_a"] + named["gen/recon_x_cyc_b"])
        named["gen/total"] = total
        _check_finite(named)
        self.gen_opt.zero_grad(set_to_none=True)
        total.backward()
        self.gen_opt.step()
        return named

    def step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, float]:
        x_a, x_b = x_a.to(self.device), x_b.to(self.device)
        named = {**self.dis_update(x_a, x_b), **self.gen_update(x_a, x_b)}
        self.gen_sched.step()
        self.dis_sched.step()
        return {name: float(value.detach()) for name, value in named.items()}

    # -- state ------------------------------------------------------------------------------------

    def state(self, iteration: int) -> dict[str, Any]:
        rng: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": random.getstate(),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "iteration": iteration,
            "gen_opt": self.gen_opt.state_dict(),
            "dis_opt": self.dis_opt.state_dict(),
            "gen_sched": self.gen_sched.state_dict(),
            "dis_sched": self.dis_sched.state_dict(),
            "rng": rng,
        }

    def load_state(self, extra: dict[str, Any], source: Path) -> int:
        missing = [key for key in ("iteration", "gen_opt", "dis_opt", "gen_sched", "dis_sched", "rng") if key not in extra]
        if missing:
            raise TrainingError(f"checkpoint {source} has no training state ({', '.join(missing)}); it cannot resume")
        try:
            self.gen_opt.load_state_dict(extra["gen_opt"])
            self.dis_opt.load_state_dict(extra["dis_opt"])
        except (ValueError, KeyError) as err:
            raise TrainingError(f"checkpoint {source}: optimiser state does not match the networks: {err}") from err
        self.gen_sched.load_state_dict(extra["gen_sched"])
        self.dis_sched.load_state_dict(extra["dis_sched"])
        rng = extra["rng"]
        torch.set_rng_state(rng["torch"])
        _set_numpy_state(rng["numpy"])
        random.setstate(_tuples(rng["python"]))
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state_all(rng["cuda"])
        return int(extra["iteration"])


class NonFiniteLoss(TrainingError):
    pass


def _check_finite(named: dict[str, torch.Tensor]) -> None:
    bad = [name for name, value in named.items() if not torch.isfinite(value.detach()).all()]
    if bad:
        raise NonFiniteLoss(f"non-finite loss: {', '.join(f'{n}={float(named[n].detach())}' for n in bad)}")


def _numpy_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["kind"], keys, state["pos"], state["has_gauss"], state["cached"]))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------------------------------
# Sample grids
# --------------------------------------------------------------------------------------------------


def sample_grid(model: SAMUNIT, x_a: torch.Tensor, x_b: torch.Tensor, styles: int, style_seed: int) -> Image.Image:
    """Rows: A inputs, then B inputs. Columns: input, reconstruction, `styles` translations (fixed styles)."""
    generator = torch.Generator().manual_seed(style_seed)
    rows = []
    with torch.no_grad():
        for x, own, other in ((x_a, model.gen_a, model.gen_b), (x_b, model.gen_b, model.gen_a)):
            device = next(own.parameters()).device
            x = x.to(device)
            content, style = own.encode(x)
            random_styles = torch.randn((styles, style.shape[1]), generator=generator).to(device)
            columns = [x, own.decode(content, style)]
            columns += [other.decode(content, s.expand_as(style)) for s in random_styles]
            rows += [torch.stack([column[i] for column in columns]) for i in range(x.shape[0])]
    return grid_image(torch.stack(rows))


def grid_image(tiles: torch.Tensor) -> Image.Image:
    """Tiles [rows, cols, 3, H, W] in [-1, 1] -> one RGB picture with white gaps."""
    tiles = tiles.detach().cpu()
    n_rows, n_cols, _, h, w = tiles.shape
    canvas = np.full((n_rows * (h + GRID_GAP) + GRID_GAP, n_cols * (w + GRID_GAP) + GRID_GAP, 3), 255, np.uint8)
    pixels = ((tiles.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()
    for r in range(n_rows):
        for c in range(n_cols):
            top, left = GRID_GAP + r * (h + GRID_GAP), GRID_GAP + c * (w + GRID_GAP)
            canvas[top:top + h, left:left + w] = pixels[r, c]
    return Image.fromarray(canvas, mode="RGB")


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    iteration: int  # iterations completed and saved
    interrupted: bool  # stopped by Ctrl-C (a checkpoint was saved)


class _InterruptFlag:
    """First Ctrl-C asks the loop to save and stop at the end of the iteration; a second one exits at once."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __enter__(self) -> _InterruptFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C cannot reach us anyway
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _truncate_log(path: Path, iteration: int) -> None:
    """Drops lines written after the checkpoint we resume from, so the log has no iteration twice."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            if json.loads(line)["iteration"] <= iteration:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash
    path.write_text("".join(kept), encoding="utf-8")


def run(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    run_dir: str | Path,
    *,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Trains `cfg` on `data_dir` (trainA/ trainB/, test* for sample grids) into `run_dir`."""
    run_dir = Path(run_dir)
    train = cfg.train
    checkpoint_path = run_dir / CHECKPOINT_FILE
    folder_a, folder_b = domain_folders(data_dir, "train")
    files_a, files_b = list_images(folder_a), list_images(folder_b)
    test_a, test_b = domain_folders(data_dir, "test")
    sample_a = list_images(test_a) if test_a.is_dir() else files_a
    sample_b = list_images(test_b) if test_b.is_dir() else files_b

    if resume:
        _, model, extra = load_checkpoint(checkpoint_path, cfg)
    else:
        if checkpoint_path.exists():
            raise TrainingError(f"run folder {run_dir} already holds {CHECKPOINT_FILE}; pass --resume or use a new folder")
        model, extra = build_model(cfg), {}
    trainer = Trainer(cfg, model, device)
    if resume:
        _check_stream(cfg, extra, checkpoint_path)
        iteration = trainer.load_state(extra, checkpoint_path)
        _truncate_log(run_dir / LOG_FILE, iteration)
    else:
        torch.manual_seed(train.seed)
        iteration = 0
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    if iteration >= train.max_iter:
        log(f"{run_dir}: already at iteration {iteration} of {train.max_iter}; nothing to do")
        return RunResult(iteration, interrupted=False)

    length = train.max_iter * train.batch_size
    loaders = [
        DataLoader(ImageStream(files, cfg.image_size, train.seed, index, length), batch_size=train.batch_size,
                   sampler=range(iteration * train.batch_size, length), num_workers=train.num_workers,
                   pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(train.seed))
        # Own generator: creating the loader must not draw from the global RNG, or resuming would shift it.
        for index, files in enumerate((files_a, files_b))
    ]
    fixed_a = fixed_images(sample_a, train.sample_images, cfg.image_size)
    fixed_b = fixed_images(sample_b, train.sample_images, cfg.image_size)

    def save(at: int) -> None:
        save_checkpoint(checkpoint_path, cfg, model, extra={**trainer.state(at), "stream": _stream_fields(cfg)})

    interrupted = False
    started, started_iteration = time.perf_counter(), iteration
    with _InterruptFlag() as flag, open(run_dir / LOG_FILE, "a", encoding="utf-8") as log_file, \
            tqdm(total=train.max_iter, initial=iteration, desc="train", unit="it", disable=not progress) as bar:
        for x_a, x_b in zip(*loaders):
            try:
                values = trainer.step(x_a, x_b)
            except NonFiniteLoss as err:
                kept = f"last good checkpoint {checkpoint_path} (iteration {_saved_iteration(checkpoint_path)})" \
                    if checkpoint_path.exists() else "no checkpoint was written yet"
                raise TrainingError(f"training stopped at iteration {iteration + 1}: {err}; kept {kept}") from err
            iteration += 1
            bar.update()
            bar.set_postfix(gen=f"{values['gen/total']:.3f}", dis=f"{values['dis/total']:.3f}")
            if iteration % train.log_every == 0:
                elapsed = time.perf_counter() - started
                line = {"iteration": iteration, **values, "lr/gen": trainer.gen_opt.param_groups[0]["lr"],
                        "lr/dis": trainer.dis_opt.param_groups[0]["lr"],
                        "its_per_s": (iteration - started_iteration) / elapsed if elapsed > 0 else None,
                        **attention_gammas(model)}
                log_file.write(json.dumps(line) + "\n")
                log_file.flush()
            if iteration % train.sample_every == 0:
                (run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
                sample_grid(model, fixed_a, fixed_b, train.sample_styles, train.seed).save(
                    run_dir / SAMPLES_DIR / f"iter_{iteration:08d}.png")
            if iteration % train.checkpoint_every == 0 or iteration == train.max_iter:
                save(iteration)
            if flag.raised:
                save(iteration)
                log(f"interrupted: saved {checkpoint_path} at iteration {iteration}")
                interrupted = True
                break
    return RunResult(iteration, interrupted)


def _stream_fields(cfg: ExperimentConfig) -> dict[str, int]:
    """Fields that decide which batches come next: changing one on resume would silently change the data."""
    return {"image_size": cfg.image_size, "train.batch_size": cfg.train.batch_size, "train.seed": cfg.train.seed}


def _check_stream(cfg: ExperimentConfig, extra: dict[str, Any], source: Path) -> None:
    stored = extra.get("stream", {})
    differences = [f"{name}: config says {value!r}, checkpoint has {stored.get(name)!r}"
                   for name, value in _stream_fields(cfg).items() if stored.get(name) != value]
    if differences:
        raise TrainingError(f"checkpoint {source} was trained on another data stream:\n  " + "\n  ".join(differences))


def _saved_iteration(path: Path) -> int | str:
    try:
        return saved_iteration(path)
    except CheckpointError:  # only for the message: an unreadable file is reported as such
        return "unknown"
