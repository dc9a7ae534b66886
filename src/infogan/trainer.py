"""The training loop: a D phase then a G phase per step, with logs, pictures and checkpoints.

Who the information loss trains (the paper's objective, as the official code implements it):
  D phase: loss_D = -log D(x) - log(1 - D(G(z,c))) + sum_j lambda_j NLL_j(Q(G(z,c)))
           -> D's head, the shared trunk and Q's head (one optimiser, lr_d)
  G phase: loss_G = -log D(G(z,c)) + sum_j lambda_j NLL_j(Q(G(z,c)))
           -> G only (backward(inputs=G's parameters): D's weights get no gradient here,
              and none is computed)
so the MI term reaches G, Q and the trunk, and D's adversarial gradient never trains G's
side nor the reverse.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint, distributed, speed, viz
from .config import TrainConfig
from .errors import InfoGANError
from .latent import LatentSpec
from .augment import Augmentation
from .augment import apply as apply_augmentation
from .losses import d_loss, g_loss, info_loss, invariance_loss, mi_bounds
from .model import InfoGAN
from .nets import split_batches


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(cfg: TrainConfig, channels: int = 1, image_size: int = 28) -> InfoGAN:
    spec = LatentSpec.parse(cfg.latent, cfg.lambda_cat, cfg.lambda_cont)
    return InfoGAN(spec, arch=cfg.arch, channels=channels, image_size=image_size,
                   width=cfg.width, dataset=cfg.dataset)


def make_optimizers(model: InfoGAN, cfg: TrainConfig):
    # fused Adam: one kernel over all parameters; on 2 CPU cores it is ~4.7x faster than
    # foreach Adam for the paper's 13M parameters (9 vs 43 ms per step), same update.
    impl = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[cfg.adam]
    betas = (cfg.beta1, cfg.beta2)
    opt_d = torch.optim.Adam(model.D.parameters(), lr=cfg.lr_d, betas=betas, **impl)
    opt_g = torch.optim.Adam(model.G.parameters(), lr=cfg.lr_g, betas=betas, **impl)
    return opt_d, opt_g


def draw_step_inputs(model: InfoGAN, cfg: TrainConfig, generator: torch.Generator, device: torch.device):
    """One step's random inputs, all from one generator on the training device (so nothing
    is copied from the host per step, and a resumed run repeats them): noise z, the codes,
    and the invariance term's transformation (None when it is off)."""
    z, codes = model.spec.sample(cfg.batch_size, generator=generator, device=device)
    aug = None
    if cfg.invariance > 0 and model.spec.categorical:
        aug = Augmentation().sample(cfg.batch_size, model.image_shape[-1], generator, device)
    return z, codes, aug


def train_step(model: InfoGAN, opt_d, opt_g, x_real: torch.Tensor, z: torch.Tensor,
               codes: dict[str, torch.Tensor], fuse_d: bool = True, aug=None,
               invariance: float = 0.0, amp_dtype: torch.dtype | None = None,
               g_net=None, d_net=None) -> dict[str, torch.Tensor]:
    """One D phase and one G phase; returns detached loss tensors (no host sync).

    fuse_d runs D on real and fake images as one batch with per-chunk batch norm: the same
    numbers as separate passes, one weight gradient per layer instead of several to add.
    aug = (theta, morph) adds the invariance term (see augment.py): Q must also recover the
    categorical codes from transformed fakes, weighted by invariance * lambda_j, in both
    phases like the information loss itself.
    amp_dtype runs the forward passes under autocast in that dtype; losses are float32.
    g_net, d_net: G for the step's forward and D for D's phase when they differ from
    model.G/model.D (DistributedDataParallel wrappers; see distributed.py). G's phase always
    runs the plain model.D.
    """
    spec, B = model.spec, x_real.shape[0]
    amp = lambda: speed.autocast(x_real.device, amp_dtype)  # noqa: E731
    with amp():
        x_fake = (model.G if g_net is None else g_net)(spec.join(z, codes))  # (B, C, H, W)
        x_aug = apply_augmentation(x_fake, *aug) if aug is not None else None

    # D phase: D and Q (with the trunk) on real and on detached fake images
    with amp():
        if fuse_d:
            parts = [x_real, x_fake.detach()] + ([x_aug.detach()] if aug is not None else [])
            with split_batches(model.D, len(parts)):
                logits, q_all = (model.D if d_net is None else d_net)(torch.cat(parts), q_from=B)
            logit_real, logit_fake = logits[:B], logits[B:2 * B]
        else:  # (not with a d_net: its hooks see whole-D calls only)
            logit_real = model.D.d_head(model.D.trunk(x_real)).squeeze(1)  # Q is not asked about real images
            h_fake = model.D.trunk(x_fake.detach())
            logit_fake = model.D.d_head(h_fake).squeeze(1)
            if aug is not None:  # Q's head normalises fakes and transformed fakes as one batch, as in the G phase
                h_fake = torch.cat([h_fake, model.D.trunk(x_aug.detach())])
            q_all = model.D.q_head(h_fake)
    loss_info_d, nll = info_loss(spec, q_all[:B], codes)
    loss_inv_d = invariance * invariance_loss(spec, q_all[B:], codes) if aug is not None else 0
    loss_adv_d = d_loss(logit_real.float(), logit_fake.float())
    opt_d.zero_grad(set_to_none=True)
    (loss_adv_d + loss_info_d + loss_inv_d).backward()
    opt_d.step()

    # G phase: through the updated D; gradients only for G
    with amp():
        if aug is not None:
            with split_batches(model.D, 2):
                logit_g, q_g = model.D(torch.cat([x_fake, x_aug]))
            logit_g = logit_g[:B]
        else:
            logit_g, q_g = model.D(x_fake)
    loss_inv_g = invariance * invariance_loss(spec, q_g[B:], codes) if aug is not None else 0
    loss_info_g, _ = info_loss(spec, q_g[:B], codes)
    loss_adv_g = g_loss(logit_g.float())
    opt_g.zero_grad(set_to_none=True)
    (loss_adv_g + loss_info_g + loss_inv_g).backward(inputs=list(model.G.parameters()))
    opt_g.step()

    out = {"loss_D": loss_adv_d, "loss_G": loss_adv_g, "loss_info": loss_info_d}
    if aug is not None:
        out["loss_invariance"] = loss_inv_d
    out.update({f"mi/{k}": v for k, v in mi_bounds(spec, nll).items()})
    out["D(x)"] = torch.sigmoid(logit_real.float()).mean()
    out["D(G(z))"] = torch.sigmoid(logit_fake.float()).mean()
    return {k: v.detach() for k, v in out.items()}


def heldout_accuracy(model: InfoGAN, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Each categorical code's Hungarian accuracy on labelled held-out images, mid-training:
    inference runs in eval mode (running BN stats, no RNG drawn), then the model trains again."""
    from .metrics import cluster_scores

    pred = model.infer_codes(images)
    model.train()
    return {c.name: cluster_scores(pred[c.name].numpy(), labels.numpy(), c.size)["accuracy"]
            for c in model.spec.categorical}


class BatchSampler:
    """Random batches from an in-memory uint8 tensor, without a DataLoader.

    Each epoch is a permutation drawn from (seed, epoch) alone, so a resumed run draws
    exactly the batches the uninterrupted one would have.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, device: torch.device,
                 channels_last: bool = False, rank: int = 0, world: int = 1):
        self.images = images.to(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.batch_size = batch_size
        self.seed = seed
        # several processes: the same permutation everywhere, each takes its slice of a global batch
        self.rank, self.world = rank, world
        self.steps_per_epoch = len(images) // (batch_size * world)
        if self.steps_per_epoch < 1:
            raise ValueError(f"batch size {batch_size} x {world} processes is larger than the dataset "
                             f"({len(images)} images)" if world > 1 else
                             f"batch size {batch_size} is larger than the dataset ({len(images)} images)")
        self._epoch, self._perm = -1, None

    def batch(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=g).to(self.images.device)
            self._epoch = epoch
        start = (i * self.world + self.rank) * self.batch_size
        idx = self._perm[start : start + self.batch_size]
        x = self.images[idx].float().div_(127.5).sub_(1.0)  # (B, C, H, W) in [-1, 1]
        return x.contiguous(memory_format=self.memory_format)


class Stepper:
    """What one training step needs, built from a TrainConfig: the model (with the speed
    options applied), both optimisers, the batch sampler and the latent generator.
    step_once() is the step that Trainer, `infogan bench` and time_to_accuracy all time."""

    def __init__(self, cfg: TrainConfig, images: torch.Tensor, device: torch.device | None = None):
        self.cfg = cfg
        self.group = distributed.current()
        self.device = distributed.device_for(self.group, device or pick_device(cfg.device))
        if self.device.type == "cuda" and cfg.compile != "off":
            raise InfoGANError(speed.CUDA_COMPILE_REFUSED.format(mode=cfg.compile))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.keep_memory and self.device.type == "cpu":
            speed.keep_freed_memory()
        if self.device.type == "cuda":  # process-wide, like the allocator setting
            torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, images.shape[1], images.shape[2]).to(self.device).train()
        self.opt_d, self.opt_g = make_optimizers(self.model, cfg)
        speed.apply(self.model, cfg)
        self.sampler = BatchSampler(images, cfg.batch_size, cfg.seed, self.device, cfg.channels_last,
                                    self.group.rank, self.group.world)
        # rank 0 draws what a single process draws; the others their own streams
        self.latent_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1 + 1_000_003 * self.group.rank)
        # the gradient-averaging wrappers (the nets themselves in a single process)
        self.g_net = distributed.wrap(self.model.G, self.group, self.device)
        self.d_net = distributed.wrap(self.model.D, self.group, self.device)
        self.amp_dtype = speed.amp_dtype(cfg)
        self.graph = None
        # not with several processes: DDP's gradient all-reduce runs outside any graph
        if cfg.cuda_graph and self.device.type == "cuda" and not self.group.enabled:
            self.graph = speed.StepGraph(self._step, (self.opt_d, self.opt_g))

    def _step(self, x_real, z, codes, aug) -> dict[str, torch.Tensor]:
        return train_step(self.model, self.opt_d, self.opt_g, x_real, z, codes, aug=aug,
                          invariance=self.cfg.invariance, amp_dtype=self.amp_dtype,
                          g_net=self.g_net, d_net=self.d_net)

    def step_once(self, step: int, eager: bool = False) -> dict[str, torch.Tensor]:
        """Training step `step`; eager=True runs it outside the CUDA graph (to count its FLOPs).
        The returned loss tensors may be overwritten by the next step: add, don't keep."""
        x_real = self.sampler.batch(step)
        z, codes, aug = draw_step_inputs(self.model, self.cfg, self.latent_gen, self.device)
        if self.graph is None or eager:
            return self._step(x_real, z, codes, aug)
        return self.graph(x_real, z, codes, aug)


class Trainer(Stepper):
    """Trains cfg on images into run_dir. heldout = (images, labels), when given, is only
    looked at: each categorical code's test accuracy is logged with every sample grid
    (acc/<code> in stats.jsonl and TensorBoard), never used for training."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, images: torch.Tensor, resume_from: Path | None = None,
                 heldout: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(cfg, images)
        self.heldout = heldout
        self.run_dir = Path(run_dir)
        self.total_steps = cfg.max_steps or cfg.epochs * self.sampler.steps_per_epoch
        self.log_every = cfg.log_every
        self.ckpt_every = max(self.log_every, cfg.ckpt_every // self.log_every * self.log_every)
        self.sample_every = cfg.sample_every or self.sampler.steps_per_epoch
        self.step = 0
        if resume_from is not None:  # before the first step, so before any graph is captured
            meta, rng = checkpoint.load(resume_from, self.model, self.opt_d, self.opt_g)
            self.step = meta["step"]
            if self.group.main:  # the checkpoint holds rank 0's stream; the others start fresh ones
                self.latent_gen.set_state(rng["latent"])
            else:
                self.latent_gen.manual_seed(hash((cfg.seed, self.group.rank, self.step)) % 2**63)

    # ------------------------------------------------------------------ pictures
    def write_samples(self, tag: str) -> Path:
        images, nrow = viz.category_grid(self.model, seed=self.cfg.seed + 12345)
        path = viz.save_grid(images, self.run_dir / "samples" / f"{tag}.png", nrow)
        self.tb.add_image("samples", viz.grid_tensor(images, nrow), self.step)
        return path

    def write_final_pictures(self) -> None:
        frames = sorted((self.run_dir / "samples").glob("*.png"))
        viz.save_gif(frames, self.run_dir / "training.gif")
        if frames:
            (self.run_dir / "samples.png").write_bytes(frames[-1].read_bytes())
        values = torch.linspace(-2, 2, 9)
        for code in self.model.spec.codes:
            if code.kind == "cont":
                imgs, nrow = viz.continuous_traversal(self.model, code.name, values, seed=self.cfg.seed + 12345)
                viz.save_grid(imgs, self.run_dir / f"traverse-{code.name}.png", nrow)
        viz.plot_stats(self.run_dir / "stats.jsonl", self.run_dir / "losses.png", self.model.spec)

    # ------------------------------------------------------------------ loop
    def save_checkpoint(self) -> None:
        checkpoint.save(self.run_dir, self.step, self.model, self.opt_d, self.opt_g,
                        {"latent": self.latent_gen.get_state()}, {"train_config": self.cfg.to_dict()},
                        keep=self.cfg.keep_ckpts)

    def run(self, progress: bool = True) -> InfoGAN:
        if not self.group.main:
            return self._run_without_writing()
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step or None)
        sums: dict[str, torch.Tensor] = {}
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not progress, unit="step",
                   dynamic_ncols=True, desc=self.run_dir.name)
        t0, images_seen = time.perf_counter(), 0
        stats = open(self.run_dir / "stats.jsonl", "a")
        try:
            while self.step < self.total_steps:
                out = self.step_once(self.step)
                for k, v in out.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                self.step += 1
                images_seen += self.cfg.batch_size
                bar.update(1)
                if self.step % self.log_every == 0 or self.step == self.total_steps:
                    n = self.step % self.log_every or self.log_every
                    row = {"step": self.step, "epoch": self.step / self.sampler.steps_per_epoch}
                    row.update({k: round(float(v) / n, 5) for k, v in sums.items()})
                    row["images_per_s"] = round(images_seen / (time.perf_counter() - t0), 1)
                    sums = {}
                    stats.write(json.dumps(row) + "\n")
                    stats.flush()
                    for k, v in row.items():
                        if k != "step":
                            self.tb.add_scalar(k, v, self.step)
                    bar.set_postfix({k: row[k] for k in ("loss_D", "loss_G")} |
                                    {k[3:]: row[k] for k in row if k.startswith("mi/")})
                if self.step % self.sample_every == 0 or self.step == self.total_steps:
                    epoch = self.step / self.sampler.steps_per_epoch
                    tag = f"epoch-{int(epoch):04d}" if self.step % self.sampler.steps_per_epoch == 0 else f"step-{self.step:07d}"
                    self.write_samples(tag)
                    if self.heldout is not None and self.model.spec.categorical:
                        accs = {f"acc/{k}": round(v, 4) for k, v in heldout_accuracy(self.model, *self.heldout).items()}
                        stats.write(json.dumps({"step": self.step, "epoch": epoch, **accs}) + "\n")
                        stats.flush()
                        for k, v in accs.items():
                            self.tb.add_scalar(k, v, self.step)
                if self.step % self.ckpt_every == 0 or self.step == self.total_steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            stats.close()
            self.tb.flush()
        self.model.save_pretrained(self.run_dir / "model")
        self.write_final_pictures()
        self.tb.close()
        return self.model

    def _run_without_writing(self) -> InfoGAN:
        """Ranks other than 0 of a torchrun job: the same steps; rank 0 writes the run folder
        (nothing it does between steps is collective, so the others wait in the next step's
        gradient all-reduce)."""
        while self.step < self.total_steps:
            self.step_once(self.step)
            self.step += 1
        return self.model
