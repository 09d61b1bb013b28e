"""Distillation by gradient matching (STemDist step 4) on a clustered training set.

Shapes: M real windows, m synthetic windows, L input / O output steps, k clusters,
F features of which the first C are the series channels (the rest: time of day, day of week).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from sttune.api import Graph, Span, STModel
from sttune.strategies.stemdist.cluster import mean_windows


@dataclass
class ClusterData:
    """The real training set at cluster level, and what models need to run on it."""

    x: Tensor  # [M, L, k, F] normalised
    y: Tensor  # [M, O, k] raw, 0 = missing
    weight: Tensor  # [k] cluster sizes
    node_inputs: Tensor  # [k, D]
    graph: Graph  # over the k clusters
    mean: float  # raw = normalised · std + mean
    std: float


class SynSet(nn.Module):
    """The learnable synthetic set: series channels of the inputs and normalised targets.

    Time-of-day / day-of-week channels are copied from the sampled real windows and fixed;
    targets that were missing (0) at initialisation stay missing.
    """

    def __init__(self, x: Tensor, y: Tensor, n_channels: int, mean: float, std: float) -> None:
        super().__init__()
        self.n_channels, self.mean, self.std = n_channels, mean, std
        self.x_series = nn.Parameter(x[..., :n_channels].clone())
        self.register_buffer("x_time", x[..., n_channels:].clone())
        self.register_buffer("seen", y != 0)
        self.y_norm = nn.Parameter(torch.where(self.seen, (y - mean) / std, torch.zeros_like(y)))

    def x(self) -> Tensor:
        """[m, L, k, F]."""
        return torch.cat([self.x_series, self.x_time], dim=-1)

    @torch.no_grad()
    def y_raw(self) -> Tensor:
        """[m, O, k] raw units; kept > 0 where observed (0 would read as missing)."""
        raw = (self.y_norm * self.std + self.mean).clamp_min(1e-3)
        return torch.where(self.seen, raw, torch.zeros_like(raw))


LOSSES = ("mse", "mae")
LOOPS = ("sttune", "authors")


def weighted_loss(pred: Tensor, target: Tensor, seen: Tensor, weight: Tensor, kind: str = "mse") -> Tensor:
    """Cluster-size-weighted masked MSE or MAE (normalised units): pred, target, seen [B, O, k];
    weight [k]. MSE is the paper's; MAE is the loss the trainer trains with."""
    w = seen.to(pred.dtype) * weight.view(1, 1, -1)
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    err = (pred - target) ** 2 if kind == "mse" else (pred - target).abs()
    return (w * err).sum() / w.sum().clamp_min(1e-8)


def match_distance(g_real: list[Tensor | None], g_syn: list[Tensor | None]) -> Tensor:
    """Σ over layers (1-D params skipped) and output rows of 1 − cos(g_real, g_syn)."""
    total: Tensor | None = None
    for gr, gs in zip(g_real, g_syn):
        if gr is None or gs is None or gr.dim() <= 1:
            continue
        gr, gs = gr.reshape(gr.shape[0], -1), gs.reshape(gs.shape[0], -1)
        term = (1 - nn.functional.cosine_similarity(gr, gs, dim=1, eps=1e-8)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the surrogate model has no multi-dimensional parameter to match")
    return total


def split_clusters(k: int, parts: int, generator: torch.Generator) -> list[Tensor]:
    """A random balanced partition of range(k) into min(parts, k) subsets."""
    return list(torch.randperm(k, generator=generator).tensor_split(min(parts, k)))


@dataclass
class MatchConfig:
    k_subsets: int = 4
    lr_feat: float = 1e-3
    outer: int = 20
    inner: int = 10
    net_steps: int = 5
    net_lr: float = 1e-3
    batch_size: int = 64
    real_batch: int = 0  # real windows per matching step; 0 = batch_size
    syn_batch: int = 0  # synthetic windows per matching step; 0 = batch_size
    loss: str = "mse"  # matched and trained-on loss: "mse" (the paper) or "mae" (the trainer's)
    eval_every: int = 0
    eval_epochs: int = 10
    # "sttune": per round one Adam step on the summed subset distances, then net_steps surrogate
    # steps on syn_batch windows; "authors" (their stemdist.py): per round one Adam step per
    # subset against the whole synthetic set, then net_steps passes of K subset steps on the whole
    # set (none after the last round), the surrogate in train mode; selection models train likewise
    loop: str = "sttune"
    score_runs: int = 1  # fresh models trained per selection score, their val MAE averaged (authors: 3)
    # the set before matching (iteration 0) may be selected [ours]; the authors' code scores it but
    # keeps only sets from the first check on
    initial_candidate: bool = True
    # > 0: the synthetic set's descriptors are its own mean input windows, padded to this width
    # (encoder_input="mean_window"); 0: the clusters' descriptors stay fixed
    descriptor_width: int = 0
    history: list[float] = field(default_factory=list)


class Distiller:
    """Runs gradient matching between the real clustered data and a :class:`SynSet`."""

    def __init__(
        self, real: ClusterData, syn: SynSet, new_model: Callable[[], STModel],
        cfg: MatchConfig, generator: torch.Generator, add_work: Callable[[int, int], None] | None = None,
    ) -> None:
        self.real, self.syn, self.new_model, self.cfg, self.gen = real, syn, new_model, cfg, generator
        self.opt = torch.optim.Adam(syn.parameters(), lr=cfg.lr_feat)
        self.work = 0  # window-nodes through the model so far (the matching and surrogate passes)
        self._add_work = add_work

    def _rows(self, n: int, generator: torch.Generator | None = None, size: int = 0) -> Tensor:
        return torch.randperm(n, generator=generator or self.gen)[: size or self.cfg.batch_size]

    def syn_inputs(self, x_series: Tensor | None = None) -> Tensor | None:
        """The synthetic set's descriptors (its mean input windows, differentiable in its inputs)
        when ``descriptor_width`` is set, else None (the clusters' fixed descriptors serve)."""
        if not self.cfg.descriptor_width:
            return None
        return mean_windows(self.syn.x_series if x_series is None else x_series, self.cfg.descriptor_width)

    def _loss(
        self, model: STModel, x: Tensor, y_norm: Tensor, seen: Tensor, nodes: Tensor, node_inputs: Tensor | None = None,
    ) -> Tensor:
        r = self.real
        self.work += int(x.shape[0]) * len(nodes)  # one pass (a matching step's double backward counts once)
        if self._add_work is not None:
            self._add_work(int(x.shape[0]), len(nodes))
        inputs = r.node_inputs if node_inputs is None else node_inputs
        pred = model(x[:, :, nodes], None, inputs[nodes], r.graph.subgraph(nodes))
        return weighted_loss(pred, y_norm[..., nodes], seen[..., nodes], r.weight[nodes], self.cfg.loss)

    def match_step(self, model: STModel) -> float:
        """One synthetic update: matching loss summed over K random cluster subsets."""
        r, s, dev = self.real, self.syn, self.real.x.device
        ri = self._rows(len(r.x), size=self.cfg.real_batch).to(dev)
        si = self._rows(len(s.x_series), size=self.cfg.syn_batch).to(dev)
        x_r, y_r = r.x[ri], r.y[ri]
        seen_r = y_r != 0
        yn_r = torch.where(seen_r, (y_r - r.mean) / r.std, torch.zeros_like(y_r))
        x_s, yn_s, seen_s = s.x()[si], s.y_norm[si], s.seen[si]
        params = [p for p in model.parameters() if p.requires_grad]
        with sdpa_kernel(SDPBackend.MATH):  # the fused attention kernels have no double backward
            total = self._match(model, params, (x_r, yn_r, seen_r), (x_s, yn_s, seen_s), self.syn_inputs())
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return float(total.detach())

    def _match(
        self, model: STModel, params: list[Tensor], real: tuple[Tensor, Tensor, Tensor],
        syn: tuple[Tensor, Tensor, Tensor], syn_inputs: Tensor | None = None,
    ) -> Tensor:
        """Σ over K random cluster subsets of the gradient distance (differentiable in syn)."""
        total = torch.zeros((), device=self.real.x.device)
        for nodes in split_clusters(len(self.real.weight), self.cfg.k_subsets, self.gen):
            total = total + self._distance(model, params, real, syn, nodes.to(total.device), syn_inputs)
        return total

    def _distance(
        self, model: STModel, params: list[Tensor], real: tuple[Tensor, Tensor, Tensor],
        syn: tuple[Tensor, Tensor, Tensor], nodes: Tensor, syn_inputs: Tensor | None,
    ) -> Tensor:
        """The gradient distance on one cluster subset (differentiable in syn)."""
        g_r = torch.autograd.grad(self._loss(model, *real, nodes), params, allow_unused=True)
        g_r = [None if g is None else g.detach() for g in g_r]
        g_s = torch.autograd.grad(self._loss(model, *syn, nodes, syn_inputs), params, create_graph=True, allow_unused=True)
        return match_distance(g_r, g_s)

    def authors_round(self, model: STModel, net_opt: torch.optim.Optimizer, last: bool) -> float:
        """One outer loop of the authors' code: a real batch; per random cluster subset, the
        distance between its real gradient and the *whole* synthetic set's, and one Adam step
        on the set; then (not after the last round) ``net_steps`` surrogate passes."""
        r, s, dev = self.real, self.syn, self.real.x.device
        ri = self._rows(len(r.x), size=self.cfg.real_batch).to(dev)
        x_r, y_r = r.x[ri], r.y[ri]
        seen_r = y_r != 0
        yn_r = torch.where(seen_r, (y_r - r.mean) / r.std, torch.zeros_like(y_r))
        params = [p for p in model.parameters() if p.requires_grad]
        total = 0.0
        for nodes in split_clusters(len(r.weight), self.cfg.k_subsets, self.gen):
            with sdpa_kernel(SDPBackend.MATH):
                dist = self._distance(model, params, (x_r, yn_r, seen_r), (s.x(), s.y_norm, s.seen), nodes.to(dev),
                                      self.syn_inputs())  # fmt: skip
            self.opt.zero_grad(set_to_none=True)
            dist.backward()
            self.opt.step()
            total += float(dist.detach())
        if not last:
            self.passes(model, self.cfg.net_steps, net_opt)
        return total

    def passes(
        self, model: STModel, n_passes: int, opt: torch.optim.Optimizer, generator: torch.Generator | None = None,
    ) -> None:
        """The authors' training on the (detached) set: each pass splits the clusters into K
        random subsets and takes one step per subset on every synthetic window."""
        x, yn, seen = self.syn.x().detach(), self.syn.y_norm.detach(), self.syn.seen
        inputs = self.syn_inputs(x[..., : self.syn.n_channels])
        for _ in range(n_passes):
            for nodes in split_clusters(len(self.real.weight), self.cfg.k_subsets, generator or self.gen):
                opt.zero_grad(set_to_none=True)
                self._loss(model, x, yn, seen, nodes.to(x.device), inputs).backward()
                opt.step()

    def train_on_syn(
        self, model: STModel, steps: int, opt: torch.optim.Optimizer, generator: torch.Generator | None = None,
    ) -> None:
        """``steps`` surrogate updates on the (detached) synthetic set, all clusters."""
        every = torch.arange(len(self.real.weight), device=self.real.x.device)
        x, yn, seen = self.syn.x().detach(), self.syn.y_norm.detach(), self.syn.seen
        inputs = self.syn_inputs(x[..., : self.syn.n_channels])
        for _ in range(steps):
            i = self._rows(len(x), generator).to(x.device)
            opt.zero_grad(set_to_none=True)
            self._loss(model, x[i], yn[i], seen[i], every, inputs).backward()
            opt.step()

    def score(
        self, evaluate: Callable[[nn.Module], float], generator: torch.Generator | None = None,
        clock: Callable[[], float] = lambda: 0.0,
    ) -> tuple[float, float]:
        """(Validation MAE of a fresh model trained ``eval_epochs`` epochs on the current set,
        averaged over ``score_runs`` such models, and the device seconds of one of the first
        model's epochs on ``clock``: what training on a set of this shape costs per epoch, the
        validation pass left out). An epoch is ceil(windows / batch) steps on all clusters at lr
        2e-3, or with the authors' loop one pass of K subset steps on the whole set at net_lr."""
        vals, epoch_seconds = [], 0.0
        for run in range(self.cfg.score_runs):
            model = self.new_model()
            model.train()
            start = clock()
            if self.cfg.loop == "authors":
                self.passes(model, self.cfg.eval_epochs, torch.optim.Adam(model.parameters(), lr=self.cfg.net_lr),
                            generator)  # fmt: skip
            else:
                steps = self.cfg.eval_epochs * max(1, -(-len(self.syn.x_series) // self.cfg.batch_size))
                self.train_on_syn(model, steps, torch.optim.Adam(model.parameters(), lr=2e-3), generator)
            if run == 0:
                epoch_seconds = (clock() - start) / max(self.cfg.eval_epochs, 1)
            vals.append(float(evaluate(model)))
        return sum(vals) / len(vals), epoch_seconds

    def side_score(self, evaluate: Callable[[nn.Module], float], clock: Callable[[], float]) -> tuple[float, float]:
        """:meth:`score` without touching any random state the distillation goes on to use,
        so that the distilled set is the same whether or not anyone asked for this score."""
        devices = [self.real.x.device] if self.real.x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self.score(evaluate, torch.Generator().set_state(self.gen.get_state()), clock)

    def run(
        self, evaluate: Callable[[nn.Module], float] | None,
        checkpoint: Callable[[float, float, float], None] | None = None,
        elapsed: Callable[[], float] | None = None,
        overhead: Callable[[], AbstractContextManager[Span]] | None = None,
    ) -> dict:
        """T_outer outer iterations; keeps the best set by validation when eval_every > 0.

        ``checkpoint(val MAE of the cluster-only set, projected seconds of the whole run,
        seconds of one training epoch on a set of this size)`` is called once, after the first
        outer iteration (the first that tells what one costs), with ``elapsed()`` the caller's
        device clock; it may raise to end the run there. The epoch estimate is timed from the
        score's training (``eval_epochs`` epochs on the cluster-only set, the distilled set's
        shape). When the score exists only for the checkpoint (eval_every 0), it runs inside
        ``overhead()``: the search pays for it, the configuration does not.
        """
        cfg = self.cfg
        use_eval = cfg.eval_every > 0 and evaluate is not None
        listen = checkpoint is not None and elapsed is not None and evaluate is not None
        clock = elapsed if listen else (lambda: 0.0)
        t_start = clock()
        start_val, epoch_seconds, best = math.nan, 0.0, None
        if use_eval:
            start_val, epoch_seconds = self.score(evaluate, clock=clock)
            best = (start_val if cfg.initial_candidate else math.inf, 0, copy.deepcopy(self.syn.state_dict()))
        elif listen:  # a score for the checkpoint alone: the search's overhead (its clock still runs inside)
            with overhead() if overhead is not None else nullcontext(Span()):
                start_val, epoch_seconds = self.side_score(evaluate, clock)
        t_loop = clock()  # the timed score (eval_every > 0) took t_loop - t_start
        scores_left = math.ceil(cfg.outer / cfg.eval_every) if use_eval else 0  # multiples of eval_every, and the end
        for it in range(1, cfg.outer + 1):
            model = self.new_model()
            # sttune: no dropout noise between the real and synthetic passes [ours]; the authors'
            # surrogate stays in train mode
            model.train(cfg.loop == "authors")
            net_opt = torch.optim.Adam(model.parameters(), lr=cfg.net_lr)
            losses = []
            for r in range(cfg.inner):
                if cfg.loop == "authors":
                    losses.append(self.authors_round(model, net_opt, last=r == cfg.inner - 1))
                    continue
                losses.append(self.match_step(model))
                self.train_on_syn(model, cfg.net_steps, net_opt)
            cfg.history.append(sum(losses) / len(losses))
            if listen and it == 1:
                now = clock()
                checkpoint(start_val, now + (now - t_loop) * (cfg.outer - 1) + (t_loop - t_start) * scores_left,
                           epoch_seconds)
            if use_eval and (it % cfg.eval_every == 0 or it == cfg.outer):
                val, _ = self.score(evaluate)
                if val < best[0]:
                    best = (val, it, copy.deepcopy(self.syn.state_dict()))
        if best is not None:
            self.syn.load_state_dict(best[2])
        return {
            "matching_loss": cfg.history,
            "best_val_mae": None if best is None else best[0],
            "best_iteration": cfg.outer if best is None else best[1],
            "initial_val_mae": start_val if use_eval else None,
        }
