"""Spatial compression: k-means over nodes, the assignment matrix, cluster-level data.

Shapes: N real nodes, k clusters, M windows, L input steps, O output steps, F features.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sttune.api import Graph, WindowSource

CHUNK = 256  # windows gathered at once when aggregating the whole training set


def node_features(train: WindowSource, n_channels: int, max_windows: int, generator: torch.Generator) -> Tensor:
    """Each node's flattened training input windows (series channels only): [N, w·L·C].

    At most ``max_windows`` windows, drawn at random, so k-means stays cheap: stride-1
    windows overlap, so a subsample of them still covers most of the series [ours].
    """
    m = len(train)
    index = torch.randperm(m, generator=generator)[: min(m, max_windows)].sort().values
    x = train.gather(index).x[..., :n_channels]  # [w, L, N, C]
    return x.permute(2, 0, 1, 3).reshape(x.shape[2], -1)


def _plus_plus_init(feats: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: k row indices of ``feats`` [N, D], each drawn ∝ squared distance."""
    n = feats.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    chosen = [first]
    d2 = ((feats - feats[first]) ** 2).sum(1)
    for _ in range(1, k):
        probs = d2.clamp_min(0).cpu().double()
        if float(probs.sum()) <= 0:  # every point coincides with a centre: pick any unused
            unused = torch.ones(n, dtype=torch.bool)
            unused[chosen] = False
            probs = unused.double()
        nxt = int(torch.multinomial(probs, 1, generator=generator))
        chosen.append(nxt)
        d2 = torch.minimum(d2, ((feats - feats[nxt]) ** 2).sum(1))
    return torch.tensor(chosen, device=feats.device)


def _repair_empty(feats: Tensor, centres: Tensor, assign: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Give every empty cluster the farthest point of the currently largest cluster."""
    sizes = torch.bincount(assign, minlength=k)
    for empty in torch.nonzero(sizes == 0).flatten().tolist():
        big = int(sizes.argmax())
        members = torch.nonzero(assign == big).flatten()
        far = members[((feats[members] - centres[big]) ** 2).sum(1).argmax()]
        assign[far] = empty
        centres[empty] = feats[far]
        sizes[big] -= 1
        sizes[empty] += 1
    return centres, assign


def kmeans(feats: Tensor, k: int, iters: int, generator: torch.Generator) -> Tensor:
    """Euclidean k-means (k-means++ init, Lloyd iterations) of feats [N, D] → assign [N] long.

    Every cluster 0..k-1 is non-empty on return (requires k ≤ N).
    """
    n = feats.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= {n} nodes, got k={k}")
    feats = feats.float()
    centres = feats[_plus_plus_init(feats, k, generator)].clone()
    assign = torch.cdist(feats, centres).argmin(1)
    for _ in range(iters):
        centres, assign = _repair_empty(feats, centres, assign, k)
        sums = torch.zeros_like(centres).index_add_(0, assign, feats)
        centres = sums / torch.bincount(assign, minlength=k).clamp_min(1)[:, None].to(feats.dtype)
        new = torch.cdist(feats, centres).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    _, assign = _repair_empty(feats, centres, assign, k)
    return assign


def one_hot(assign: Tensor, k: int) -> Tensor:
    """Assignment matrix C [N, k] (float, one 1 per row)."""
    return torch.nn.functional.one_hot(assign, k).float()


def medoid_matrix(feats: Tensor, assign: Tensor, k: int) -> Tensor:
    """Representation matrix [N, k] whose column j is one-hot at cluster j's medoid: the member
    nearest (Euclidean, in ``feats``) to the cluster's centroid [ours].

    Aggregating with it (:func:`aggregate`) gives each cluster a real node's series instead of
    the member mean: a mean of members is smoother than any real series the model meets at test.
    """
    feats = feats.float()
    c = one_hot(assign, k)
    centres = (c / c.sum(0)).t() @ feats  # [k, D]
    d2 = torch.cdist(feats, centres) ** 2  # [N, k]
    d2 = torch.where(c > 0, d2, torch.full_like(d2, float("inf")))  # members only
    rep = torch.zeros_like(c)
    rep[d2.argmin(0), torch.arange(k, device=c.device)] = 1.0
    return rep


def aggregate(x: Tensor, y: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Cluster means of windows: x [B, L, N, F], y [B, O, N] raw (0 = missing), C [N, k].

    Inputs: the plain member mean (missing inputs are 0 = the training mean after
    z-scoring). Targets: the mean over *observed* members, 0 (missing) if none is [ours].
    Returns x [B, L, k, F], y [B, O, k].
    """
    sizes = c.sum(0)
    xc = torch.einsum("blnf,nk->blkf", x, c / sizes)
    seen = (y != 0).to(y.dtype)
    num = torch.einsum("bon,nk->bok", y * seen, c)
    den = torch.einsum("bon,nk->bok", seen, c)
    yc = torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))
    return xc, yc


def clustered_windows(train: WindowSource, c: Tensor) -> tuple[Tensor, Tensor]:
    """Every training window aggregated to clusters: x [M, L, k, F], y [M, O, k]."""
    xs, ys = [], []
    for index in torch.split(torch.arange(len(train)), CHUNK):
        b = train.gather(index)
        xc, yc = aggregate(b.x, b.y, c.to(b.x.device))
        xs.append(xc)
        ys.append(yc)
    return torch.cat(xs), torch.cat(ys)


def cluster_graph(graph: Graph, c: Tensor) -> Graph:
    """The cluster-level graph C^T A C, row-normalised (self-loops = intra-cluster edges)."""
    a = c.t() @ graph.to(c.device).to_dense() @ c  # [k, k]
    rows = a.sum(1, keepdim=True)
    a = torch.where(rows > 0, a / rows.clamp_min(1e-12), a)
    return Graph.from_dense(a.cpu()).to(c.device)


def target_stats(train: WindowSource) -> tuple[float, float]:
    """(mean, std) that map the model's normalised output to raw target units.

    A :class:`SeriesWindows` holds the z-scored features and the raw target, so the affine
    map is recovered exactly by least squares over observed readings (the channel that fits
    best); any other source falls back to the mean/std of its observed targets.
    """
    feats, target = getattr(train, "features", None), getattr(train, "target", None)
    if feats is not None and target is not None:
        t = target[: min(len(target), 20000)].reshape(-1).double()
        f = feats[: len(t) // target.shape[1]].double().reshape(len(t), -1)
        seen = t != 0
        best: tuple[float, float, float] | None = None
        for ch in range(max(f.shape[1] - 2, 1)):
            z, v = f[seen, ch], t[seen]
            design = torch.stack([z, torch.ones_like(z)], 1)
            sol = torch.linalg.lstsq(design, v[:, None]).solution.flatten()
            err = float(((design @ sol - v) ** 2).mean())
            if best is None or err < best[0]:
                best = (err, float(sol[1]), float(sol[0]))
        if best is not None and best[2] > 0:
            return best[1], best[2]
    b = train.gather(torch.arange(min(len(train), 512)))
    seen_y = b.y[b.y != 0]
    return float(seen_y.mean()), float(seen_y.std().clamp_min(1e-6))


def padded(windows: Tensor, width: int) -> Tensor:
    """[n, L·C] mean windows zero-padded on the right to ``width`` columns: a Linear layer on
    the padded vector is a Linear layer on the window (the zero columns never contribute)."""
    n, have = windows.shape
    if have > width:
        raise ValueError(
            f"encoder_input='mean_window' needs in_len x channels ({have}) <= the descriptor width ({width}): "
            "use fewer input steps or channels, or encoder_input='profile'"
        )
    return torch.cat([windows, windows.new_zeros(n, width - have)], dim=1)


def mean_windows(x_series: Tensor, width: int) -> Tensor:
    """Each node's mean input window over the windows of ``x_series`` [M, L, n, C] (series
    channels), flattened step-major and padded: [n, width]. STemDist's encoder input [paper code];
    differentiable, so a learnable set's descriptors follow its inputs."""
    mean = x_series.mean(0)  # [L, n, C]
    return padded(mean.permute(1, 0, 2).reshape(mean.shape[1], -1), width)


def source_mean_windows(train: WindowSource, n_channels: int, width: int) -> Tensor:
    """:func:`mean_windows` of every window of ``train`` (gathered in chunks): [N, width]."""
    total: Tensor | None = None
    for index in torch.split(torch.arange(len(train)), CHUNK):
        part = train.gather(index).x[..., :n_channels].sum(0)  # [L, N, C]
        total = part if total is None else total + part
    if total is None:
        raise ValueError("no training windows")
    mean = total / len(train)
    return padded(mean.permute(1, 0, 2).reshape(mean.shape[1], -1), width)
