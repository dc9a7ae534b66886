"""The textbook PyTorch InfoGAN training step, as the popular public versions write it.

A reference for `infogan bench`: the paper's MNIST networks, data through torchvision's
DataLoader with a per-sample ToTensor/Normalize transform on PIL images (each batch copied
to the device when it is a GPU), and three separate D passes per step (D(real),
D(fake.detach()) for D's update, D(fake) for G's), each backward computing every gradient,
PyTorch's default Adam (a loop over the parameters on a CPU, foreach on a GPU), eager fp32.
Written from the paper's architecture for this benchmark; no code copied from those
projects.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from infogan.augment import Augmentation


class ImageDataset(Dataset):
    """What torchvision.datasets.MNIST does per item: uint8 array -> PIL -> transform."""

    def __init__(self, images: torch.Tensor):
        self.images = images.squeeze(1).numpy()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i], mode="L")), 0


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1024, bias=False), nn.BatchNorm1d(1024), nn.LeakyReLU(0.1))

    def forward(self, x):
        return self.net(x)


class ReferenceInfoGAN:
    """z62 + Cat(10) + 2 continuous codes; G, D head, Q head and the shared trunk."""

    noise, n_cat, n_cont = 62, 10, 2

    def __init__(self, images: torch.Tensor, batch_size: int = 64, invariance: float = 0.0, device="cpu"):
        # on a GPU the textbook way moves the nets there and copies each loader batch over
        self.device = torch.device(device)
        dim = self.noise + self.n_cat + self.n_cont
        self.G = nn.Sequential(
            nn.Linear(dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
        self.trunk = Trunk()
        self.D_head = nn.Linear(1024, 1)
        self.Q_head = nn.Sequential(nn.Linear(1024, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1),
                                    nn.Linear(128, self.n_cat + 2 * self.n_cont))
        for net in (self.G, self.trunk, self.D_head, self.Q_head):
            net.to(self.device)
        d_params = list(self.trunk.parameters()) + list(self.D_head.parameters())
        self.opt_D = torch.optim.Adam(d_params, lr=2e-4, betas=(0.5, 0.999))
        self.opt_G = torch.optim.Adam(list(self.G.parameters()) + list(self.Q_head.parameters()),
                                      lr=1e-3, betas=(0.5, 0.999))
        self.loader = DataLoader(ImageDataset(images), batch_size=batch_size, shuffle=True, drop_last=True)
        self.batches = iter(self.loader)
        self.batch_size = batch_size
        # the categorical invariance term of infogan's default preset, added the textbook way:
        # one more trunk pass over transformed fakes in G's phase (see infogan/augment.py)
        self.invariance = invariance
        self.augment = Augmentation()

    def next_batch(self):
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self):
        B, dev = self.batch_size, self.device
        x_real = self.next_batch().to(dev)
        z = torch.randn(B, self.noise, device=dev)
        c_cat = torch.randint(0, self.n_cat, (B,), device=dev)
        c_cont = torch.rand(B, self.n_cont, device=dev) * 2 - 1
        latent = torch.cat([z, F.one_hot(c_cat, self.n_cat).float(), c_cont], 1)
        ones, zeros = torch.ones(B, 1, device=dev), torch.zeros(B, 1, device=dev)

        x_fake = self.G(latent)
        self.opt_D.zero_grad()
        loss_D = (F.binary_cross_entropy_with_logits(self.D_head(self.trunk(x_real)), ones)
                  + F.binary_cross_entropy_with_logits(self.D_head(self.trunk(x_fake.detach())), zeros))
        loss_D.backward()
        self.opt_D.step()

        self.opt_G.zero_grad()
        h = self.trunk(x_fake)
        q = self.Q_head(h)
        mean, log_var = q[:, self.n_cat:self.n_cat + self.n_cont], q[:, self.n_cat + self.n_cont:]
        nll_cont = 0.5 * (log_var + (c_cont - mean) ** 2 / log_var.exp()).mean()
        loss_G = (F.binary_cross_entropy_with_logits(self.D_head(h), ones)
                  + F.cross_entropy(q[:, :self.n_cat], c_cat) + 0.1 * nll_cont)
        if self.invariance:
            q_aug = self.Q_head(self.trunk(self.augment(x_fake)))
            loss_G = loss_G + self.invariance * F.cross_entropy(q_aug[:, :self.n_cat], c_cat)
        loss_G.backward()
        self.opt_G.step()
        return loss_D.detach(), loss_G.detach()
