"""One training step: a D phase then a G phase, and what it needs (Stepper).

Who the information loss trains (the paper's objective, as the official code implements it):
  D phase: loss_D = -log D(x) - log(1 - D(G(z,c))) + sum_j lambda_j NLL_j(Q(G(z,c)))
           -> D's head, the shared trunk and Q's head (one optimiser, lr_d)
  G phase: loss_G = -log D(G(z,c)) + sum_j lambda_j NLL_j(Q(G(z,c)))
           -> G only (backward(inputs=G's parameters), with D frozen while it runs: D's
              weights get no gradient here, and none is computed, not even inside a compiled
              part of D such as the capsule routing)
so the MI term reaches G, Q and the trunk, and D's adversarial gradient never trains G's
side nor the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from . import distributed, speed
from .augment import Augmentation, mirror, sample_blurs, sample_boxes, sample_flips, sample_gains, sample_powers
from .augment import apply as apply_augmentation
from .config import TrainConfig, real_image_terms_on
from .cr import cr_loss, pair_discriminator, sample_pairs
from .errors import InfoGANError
from .losses import (balance_loss, consistency_loss, cover_loss, d_loss, g_loss, info_loss, instance_contrast_loss,
                     invariance_loss, mi_bounds, overcluster_loss, self_label_loss, weighted_nll)
from .model import InfoGAN, to_model_range
from .nets import Discriminator, frozen, init_weights, split_batches
from .nets.caps import can_mimic, redraw
from .ema import EMA
from .optim import adam, lr_factor, make_optimizers, set_lr, step_unless


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":  # (else torch's "Found no NVIDIA driver" traceback, at the first .to())
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise InfoGANError(f"--device {name}: this machine has no CUDA device; --device auto or cpu trains on the CPU")
        if (device.index or 0) >= count:
            raise InfoGANError(f"--device {name}: this machine has {count} CUDA device{'s' * (count > 1)} "
                               f"(cuda:0{f'..cuda:{count - 1}' if count > 1 else ''})")
    return device


def draw_step_inputs(model: InfoGAN, cfg: TrainConfig, generator: torch.Generator, device: torch.device,
                     with_pairs: bool = False, erasing: bool = True) -> dict:
    """One step's random inputs, all from one generator on the training device (so nothing
    is copied from the host per step, and a resumed run repeats them): noise z, the codes,
    the invariance term's transformation of the fakes (with --fake-erase, its boxes too), the
    transformation of the real images (config.REAL_IMAGE_TERMS; with --erase,
    its boxes too) and the contrastive regulariser's pairs (each None when off), by
    train_step's argument names. erasing=False draws no boxes (before --erase-start)."""
    z, codes = model.spec.sample(cfg.batch_size, generator=generator, device=device)
    inputs = {"z": z, "codes": codes, "aug": None, "real_aug": None, "pair": None}
    size = model.image_shape[-1]

    def transformation(erase: int) -> tuple:  # (theta, morph, boxes, gains, powers, blurs); the last four None when off
        # drawn in this order, each only when on, so a run without them repeats older runs draw for draw
        # (--morph and --affine change what the draws mean, not how many numbers they take)
        geometry = Augmentation(morph_p=cfg.morph).scaled(cfg.affine)
        theta, morph = geometry.sample(cfg.batch_size, size, generator, device)
        boxes = sample_boxes(cfg.batch_size, size, erase, generator, device) if erase > 0 and erasing else None
        gains = sample_gains(cfg.batch_size, cfg.brightness, generator, device) if cfg.brightness > 0 else None
        if cfg.flip > 0:
            theta = mirror(theta, sample_flips(cfg.batch_size, cfg.flip, generator, device))
        powers = sample_powers(cfg.batch_size, cfg.gamma, generator, device) if cfg.gamma > 0 else None
        blurs = sample_blurs(cfg.batch_size, cfg.blur, generator, device) if cfg.blur > 0 else None
        return theta, morph, boxes, gains, powers, blurs

    if cfg.invariance > 0 and model.spec.categorical:
        inputs["aug"] = transformation(cfg.fake_erase)
    if reads_real_images(cfg, model):
        inputs["real_aug"] = transformation(cfg.erase)
    if with_pairs:
        inputs["pair"] = sample_pairs(model.spec, cfg.batch_size, generator, device)
    return inputs


def reads_real_images(cfg: TrainConfig, model: InfoGAN) -> bool:
    """Whether Q also reads real images (and their transformed copies) in D's phase."""
    return real_image_terms_on(cfg) and bool(model.spec.categorical)


@dataclass(frozen=True)
class Terms:
    """The weights of the objective's terms beyond the paper's (each 0 = off), as TrainConfig has them."""
    invariance: float = 0.0
    consistency: float = 0.0
    self_label: float = 0.0
    self_label_threshold: float = 0.95
    balance: float = 0.0
    overcluster: float = 0.0
    contrast: float = 0.0
    contrast_temperature: float = 0.5
    cover: float = 0.0
    cover_space: str = "trunk"
    cr: float = 0.0
    q_fakes: float = 1.0

    @classmethod
    def of(cls, cfg: TrainConfig) -> "Terms":
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class StepParts:
    """What a step trains with: the model and its optimisers, and where they apply the
    gradient-averaging wrappers (distributed.py), the contrastive regulariser's H and its
    optimiser, --overcluster's head and its optimiser, and the autocast dtype. The plain model
    and no extras by default."""
    model: InfoGAN
    opt_d: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer
    g_net: torch.nn.Module | None = None
    d_net: torch.nn.Module | None = None
    H: torch.nn.Module | None = None
    opt_h: torch.optim.Optimizer | None = None
    amp_dtype: torch.dtype | None = None
    over: torch.nn.Module | None = None
    opt_over: torch.optim.Optimizer | None = None


def train_step(parts: StepParts, x_real: torch.Tensor, z: torch.Tensor, codes: dict[str, torch.Tensor],
               aug=None, real_aug=None, pair=None, terms: Terms = Terms(), mimic: bool = False
               ) -> dict[str, torch.Tensor]:
    """One D phase and one G phase; returns detached loss tensors (no host sync).

    z, codes, aug, real_aug and pair are one step's random inputs (draw_step_inputs).
    D's phase runs D on real and fake images as one batch with per-chunk batch norm
    (SplitBatchNorm): the numbers of separate passes D(x_real), D(x_fake), with one weight
    gradient per layer instead of several to add (tests/test_nets.py compares the two).
    aug = (theta, morph, boxes, gains, powers, blurs) adds the invariance term (see augment.py): Q must also recover
    the categorical codes from transformed fakes, weighted by terms.invariance * lambda_j, in
    both phases like the information loss itself.
    parts.amp_dtype runs the forward passes under autocast in that dtype; losses are float32.
    parts.g_net, parts.d_net: G for the step's forward and D for D's phase when they differ
    from model.G/model.D (DistributedDataParallel wrappers; see distributed.py). G's phase
    always runs the plain model.D.
    pair (cr.sample_pairs), with parts.H and parts.opt_h, adds the contrastive regulariser
    (cr.py): weight terms.cr in G's loss, and H's own update on the same pairs.
    real_aug (a transformation of the real images) lets Q read real images too, in D's phase:
    weight terms.consistency on the IIC term between Q(x) and Q(T(x)), weight terms.self_label
    on Q's confident classes of x as targets for T(x), weight terms.balance on the evenness of
    Q's classes over [x, T(x)] (losses.py); they train Q and the trunk. parts.over (with
    --overcluster) reads the trunk's features of [x, T(x)] with its own classes: weight
    terms.overcluster on their IIC term, which trains that head and the trunk. terms.contrast weighs
    the NT-Xent term between the trunk's features of x and of T(x), which trains the trunk. terms.q_fakes
    weighs the categorical codes' information and invariance losses in D's phase only.
    terms.cover adds, in G's phase, cover_loss between the real images' trunk features (from
    D's phase, before D's update) and the fakes' (through the updated D), or (cover_space
    "pixels") between the images' ink.
    mimic: the second half of the fakes are G's redrawings of the first half of the real
    images (nets.caps.redraw), their categorical code the class Q read in the real image.
    """
    model, opt_d, opt_g, H, opt_h = parts.model, parts.opt_d, parts.opt_g, parts.H, parts.opt_h
    g_net = model.G if parts.g_net is None else parts.g_net
    d_net = model.D if parts.d_net is None else parts.d_net
    amp_dtype = parts.amp_dtype
    spec, B = model.spec, x_real.shape[0]
    amp = lambda: speed.autocast(x_real.device, amp_dtype)  # noqa: E731
    with amp():
        if mimic:
            M = B // 2
            redrawn, classes = redraw(model, x_real[:M], z[B - M :])
            drawn = g_net(spec.join(z[: B - M], {k: v[: B - M] for k, v in codes.items()}))
            x_fake = torch.cat([drawn, redrawn])
            codes = {spec.categorical[0].name: torch.cat([codes[spec.categorical[0].name][: B - M], classes])}
        else:
            x_fake = g_net(spec.join(z, codes))  # (B, C, H, W)
        x_aug = apply_augmentation(x_fake, *aug) if aug is not None else None

    # D phase: D and Q (with the trunk) on real and on detached fake images, one batch with
    # batch norm per chunk. Q normalises fakes and transformed fakes as one group (as in G's
    # phase); when it reads real images too, they and their transformed copies are a group of
    # their own, before the fakes: [x, T(x)] + [fake, T(fake)]
    with amp():
        real = [x_real] + ([apply_augmentation(x_real, *real_aug)] if real_aug is not None else [])
        chunks = real + [x_fake.detach()] + ([x_aug.detach()] if aug is not None else [])
        over_on = parts.over is not None and real_aug is not None
        contrast_on = terms.contrast > 0 and real_aug is not None
        cover_on = terms.cover > 0
        trunk_cover = cover_on and terms.cover_space == "trunk"
        with split_batches(model.D, len(chunks)):
            logits, q_all, *trunk = d_net(torch.cat(chunks), q_from=0 if real_aug is not None else B,
                                          q_groups=1 + (real_aug is not None),
                                          **({"features": True} if over_on or contrast_on or trunk_cover else {}))
        real_features = trunk[0][:B].detach() if trunk_cover else None
        over_logits = parts.over(trunk[0][: 2 * B]) if over_on else None  # (2B, K): the real images and their copies
        logit_real, logit_fake = logits[:B], logits[len(real) * B : (len(real) + 1) * B]
        q_real, q_all = (q_all[: 2 * B], q_all[2 * B :]) if real_aug is not None else (None, q_all)
    loss_info_d, nll = info_loss(spec, q_all[:B], codes)
    loss_inv_d = terms.invariance * invariance_loss(spec, q_all[B:], codes) if aug is not None else 0
    loss_adv_d = d_loss(logit_real.float(), logit_fake.float())
    # --q-fakes: Q and the trunk learn the categories less from G's drawings (the logged loss stays the paper's)
    info_d = loss_info_d if terms.q_fakes == 1 else weighted_nll(spec, nll, terms.q_fakes)
    total_d = loss_adv_d + info_d + terms.q_fakes * loss_inv_d
    real_losses = {}
    if terms.consistency > 0 and q_real is not None:
        real_losses["loss_consistency"] = consistency_loss(spec, q_real[:B], q_real[B:])
        total_d = total_d + terms.consistency * real_losses["loss_consistency"]
    if terms.self_label > 0 and q_real is not None:
        real_losses["loss_self_label"] = self_label_loss(spec, q_real[:B], q_real[B:], terms.self_label_threshold)
        total_d = total_d + terms.self_label * real_losses["loss_self_label"]
    if terms.balance > 0 and q_real is not None:
        real_losses["loss_balance"] = balance_loss(spec, q_real)
        total_d = total_d + terms.balance * real_losses["loss_balance"]
    if over_logits is not None:
        real_losses["loss_overcluster"] = overcluster_loss(over_logits[:B], over_logits[B:])
        total_d = total_d + terms.overcluster * real_losses["loss_overcluster"]
    if contrast_on:
        real_losses["loss_contrast"] = instance_contrast_loss(trunk[0][:B], trunk[0][B : 2 * B],
                                                              terms.contrast_temperature)
        total_d = total_d + terms.contrast * real_losses["loss_contrast"]
    bad_d = ~torch.isfinite(total_d)  # a non-finite loss skips the update (see Trainer: --on-nan)
    opt_d.zero_grad(set_to_none=True)
    if over_logits is not None:
        parts.opt_over.zero_grad(set_to_none=True)
    total_d.backward()
    step_unless(opt_d, bad_d)
    if over_logits is not None:
        step_unless(parts.opt_over, bad_d)

    # G phase: through the updated D; gradients only for G (D frozen: nets.common.frozen)
    with amp(), frozen(model.D):
        features = {"features": True} if trunk_cover else {}
        if aug is not None:
            with split_batches(model.D, 2):
                logit_g, q_g, *trunk_g = model.D(torch.cat([x_fake, x_aug]), **features)
            logit_g = logit_g[:B]
        else:
            logit_g, q_g, *trunk_g = model.D(x_fake, **features)
    loss_inv_g = terms.invariance * invariance_loss(spec, q_g[B:], codes) if aug is not None else 0
    loss_info_g, _ = info_loss(spec, q_g[:B], codes)
    loss_adv_g = g_loss(logit_g.float())
    total_g = loss_adv_g + loss_info_g + loss_inv_g
    if cover_on:
        real_losses["loss_cover"] = (cover_loss(real_features, trunk_g[0][:B]) if trunk_cover else
                                     cover_loss((x_real.flatten(1) + 1) / 2, (x_fake.flatten(1).float() + 1) / 2))
        total_g = total_g + terms.cover * real_losses["loss_cover"]
    loss_cr = None
    if pair is not None:
        with amp():
            loss_cr = cr_loss(model, H, pair)
        total_g = total_g + terms.cr * loss_cr
    bad_g = ~torch.isfinite(total_g)
    opt_g.zero_grad(set_to_none=True)
    total_g.backward(inputs=list(model.G.parameters()), retain_graph=loss_cr is not None)
    if loss_cr is not None:  # H: the same pairs' cross-entropy, for H's weights only (before G moves)
        opt_h.zero_grad(set_to_none=True)
        loss_cr.backward(inputs=list(H.parameters()))
        step_unless(opt_h, ~torch.isfinite(loss_cr))
    step_unless(opt_g, bad_g)

    out = step_report(spec, loss_adv_d, loss_adv_g, loss_info_d, loss_inv_d if aug is not None else None, nll,
                      logit_real, logit_fake)
    out["skipped/D"], out["skipped/G"] = bad_d.float(), bad_g.float()
    if loss_cr is not None:
        out["loss_cr"] = loss_cr.detach()
    out.update({k: v.detach() for k, v in real_losses.items()})
    return out


def step_report(spec, loss_d, loss_g, loss_info, loss_invariance, nll, logit_real, logit_fake) -> dict:
    """What a step logs, as detached tensors: the losses, each code's MI bound and D's mean outputs."""
    out = {"loss_D": loss_d, "loss_G": loss_g, "loss_info": loss_info}
    if loss_invariance is not None:
        out["loss_invariance"] = loss_invariance
    out.update({f"mi/{k}": v for k, v in mi_bounds(spec, nll).items()})
    out["D(x)"] = torch.sigmoid(logit_real.float()).mean()
    out["D(G(z))"] = torch.sigmoid(logit_fake.float()).mean()
    return {k: v.detach() for k, v in out.items()}


def steps_per_epoch(n_images: int, batch_size: int, world: int = 1) -> int:
    """Whole global batches in one pass over the training images (the rest wait for the next)."""
    return n_images // (batch_size * world)


def total_steps(cfg: TrainConfig, n_images: int, world: int = 1) -> int:
    """The run's length in steps: --max-steps, else --epochs passes over n_images."""
    return cfg.max_steps or cfg.epochs * steps_per_epoch(n_images, cfg.batch_size, world)


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
        self.steps_per_epoch = steps_per_epoch(len(images), batch_size, world)
        if self.steps_per_epoch < 1:
            raise InfoGANError(f"batch size {batch_size} x {world} processes is larger than the dataset "
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
        return to_model_range(self.images[idx]).contiguous(memory_format=self.memory_format)  # (B, C, H, W)


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
        if self.device.type == "cuda":
            speed.set_tf32(cfg.tf32)
        torch.manual_seed(cfg.seed)
        self.model = InfoGAN.for_training(cfg).to(self.device).train()
        if tuple(images.shape[1:]) != self.model.image_shape:
            raise InfoGANError(f"the training images are {tuple(images.shape[1:])}, the model makes "
                               f"{self.model.image_shape}")
        self.opt_d, self.opt_g = make_optimizers(self.model, cfg)
        speed.apply(self.model, cfg, self.device)
        self.sampler = BatchSampler(images, cfg.batch_size, cfg.seed, self.device, cfg.channels_last,
                                    self.group.rank, self.group.world)
        self.total_steps = total_steps(cfg, len(images), self.group.world)
        # the contrastive regulariser's H and its optimiser (D's settings), trained once it starts
        self.H = self.opt_h = None
        if cfg.cr > 0:
            try:
                self.H = pair_discriminator(self.model).to(self.device).train()
            except ValueError as e:
                raise InfoGANError(f"--cr: {e}") from None
            self.opt_h = adam(self.H.parameters(), cfg.lr_d, cfg)
        # --overcluster's head on D's trunk and its optimiser (D's settings); None when off
        self.over = self.opt_over = None
        if cfg.overcluster > 0 and reads_real_images(cfg, self.model):
            self.over, self.opt_over = overcluster_head(self.model, cfg, self.device)
        if cfg.contrast > 0:
            require_trunk_features(self.model, "--contrast compares")
        if cfg.cover > 0 and cfg.cover_space == "trunk":
            require_trunk_features(self.model, "--cover compares")
        # the weights' moving average (--ema): what is saved and evaluated; None when off
        self.ema = EMA(self.model, cfg.ema) if cfg.ema > 0 else None
        # rank 0 draws what a single process draws; the others their own streams
        self.latent_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1 + 1_000_003 * self.group.rank)
        # the gradient-averaging wrappers (the nets themselves in a single process)
        self.g_net = distributed.wrap(self.model.G, self.group, self.device)
        self.d_net = distributed.wrap(self.model.D, self.group, self.device)
        self.over_net = distributed.wrap(self.over, self.group, self.device) if self.over is not None else None
        if cfg.mimic is not None and not (can_mimic(self.model) and [c.kind for c in self.model.spec.codes] == ["cat"]):
            raise InfoGANError("--mimic needs InfoCapsGAN's capsule D and G (preset infocapsgan, or --arch caps "
                               "--g-arch caps) and a latent of noise and one categorical code")
        self.amp_dtype = speed.amp_dtype(cfg, self.device)
        self.terms = Terms.of(cfg)
        self.graph, self.graph_mode = None, (False, False, True)
        self.make_graph()

    def make_graph(self, mode: tuple[bool, bool, bool] = (False, False, True)) -> None:
        """The whole-step CUDA graph (speed.StepGraph) where it applies; captured again when
        the step changes shape (the regulariser, mimic mode or erasing starting, mode = (pairs,
        mimic, erasing)) or the optimisers' state is replaced."""
        # not with several processes: DDP's gradient all-reduce runs outside any graph
        if self.cfg.cuda_graph and self.device.type == "cuda" and not self.group.enabled:
            opts = ((self.opt_d, self.opt_g) + ((self.opt_h,) if mode[0] else ())
                    + ((self.opt_over,) if self.opt_over is not None else ()))
            self.graph, self.graph_mode = speed.StepGraph(self._step, opts), mode

    def cr_on(self, step: int) -> bool:
        return self.H is not None and step >= self.cfg.cr_start * self.total_steps

    def mimic_on(self, step: int) -> bool:
        return self.cfg.mimic is not None and step >= self.cfg.mimic

    def erasing(self, step: int) -> bool:
        return step >= self.cfg.erase_start * self.total_steps

    @property
    def parts(self) -> StepParts:
        """What train_step trains with, read from this Stepper's own attributes."""
        return StepParts(self.model, self.opt_d, self.opt_g, self.g_net, self.d_net, self.H, self.opt_h,
                         self.amp_dtype, self.over_net, self.opt_over)

    def _step(self, x_real, inputs: dict, mimic: bool = False) -> dict[str, torch.Tensor]:
        return train_step(self.parts, x_real, **inputs, terms=self.terms, mimic=mimic)

    def step_once(self, step: int, eager: bool = False) -> dict[str, torch.Tensor]:
        """Training step `step`; eager=True runs it outside the CUDA graph (to count its FLOPs).
        The returned loss tensors may be overwritten by the next step: add, don't keep."""
        x_real = self.sampler.batch(step)
        mode = (self.cr_on(step), self.mimic_on(step), self.erasing(step))
        inputs = draw_step_inputs(self.model, self.cfg, self.latent_gen, self.device, mode[0], mode[2])
        if self.graph is not None and mode != self.graph_mode:
            self.make_graph(mode)
        if self.cfg.lr_decay > 0:
            factor = lr_factor(step, self.total_steps, self.cfg.lr_decay)
            for opt, lr in ((self.opt_d, self.cfg.lr_d), (self.opt_g, self.cfg.lr_g), (self.opt_h, self.cfg.lr_d),
                            (self.opt_over, self.cfg.lr_d)):
                if opt is not None:
                    set_lr(opt, lr * factor)
        if self.graph is None or eager:
            out = self._step(x_real, inputs, mode[1])
        else:
            out = self.graph(x_real, inputs, mode[1])
        if self.ema is not None:
            self.ema.update(self.model, step)
        return out


def require_trunk_features(model: InfoGAN, what: str) -> None:
    """A one-line error, "<what> D's trunk features; ...", for a D whose trunk does not end in one
    feature vector (the capsule Ds): the terms that read the trunk's features need one."""
    if not isinstance(model.D, Discriminator):
        raise InfoGANError(f"{what} D's trunk features; the {model.config['arch']} networks' D has no single "
                           "feature vector to read (use --arch mnist, dcgan or sprites)")


def overcluster_head(model: InfoGAN, cfg: TrainConfig, device: torch.device):
    """--overcluster's head, a linear map from D's trunk features to --overcluster-k classes
    (DCGAN init, drawn after the model's), and its Adam with D's settings. Only for a D whose
    trunk ends in one feature vector (nets.common.Discriminator)."""
    require_trunk_features(model, "--overcluster reads")
    head = torch.nn.Linear(model.D.d_head.in_features, cfg.overcluster_k)
    init_weights(head)
    head = head.to(device).train()
    return head, adam(head.parameters(), cfg.lr_d, cfg)
