"""sttune.interop.lightning.StrategyCallback: strategies inside a Lightning fit (skipped
without the optional extra ``lightning``)."""

from __future__ import annotations

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from helpers import ring_series
from sttune import StrategyLoop
from sttune.data.protocol import build_data
from sttune.interop.lightning import StrategyCallback
from sttune.recipe.settings import Protocol
from sttune.registry.build import make_strategies
from sttune.training.metrics import per_sample_masked_mae


class Module(pl.LightningModule):
    """A user's LightningModule: a per-sensor linear map, its loss weighted by the strategies."""

    def __init__(self, n_nodes: int, in_len: int, out_len: int, callback: StrategyCallback, mean: float, std: float):
        super().__init__()
        self.proj = torch.nn.Linear(in_len, out_len)
        self.bias = torch.nn.Parameter(torch.zeros(n_nodes))
        self.callback, self.mean, self.std = callback, mean, std
        self.visited: dict[int, list[int]] = {}

    def forward(self, x, nodes=None):
        bias = self.bias if nodes is None else self.bias[nodes]
        return (self.proj(x[..., 0].transpose(1, 2)) + bias[:, None]).transpose(1, 2)

    def training_step(self, batch, batch_idx):
        self.visited.setdefault(self.current_epoch, []).extend(batch.index.tolist())
        per_sample = per_sample_masked_mae(self(batch.x, batch.nodes) * self.std + self.mean, batch.y, None)
        return {"loss": self.callback.loop.weight(per_sample, batch).mean(), "per_sample_loss": per_sample.detach()}

    def train_dataloader(self):
        return self.callback.dataloader(32)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def test_a_lightning_fit_visits_the_chosen_windows_and_nodes():
    data = build_data(ring_series(n_steps=400, n_nodes=8), Protocol(in_len=6, out_len=3))
    strategies = make_strategies([("st_prune", {"ratio": 0.5, "warmup": 1}), ("dynst", {"s_final": 0.5})])
    chosen: dict[int, list[int]] = {}
    select = strategies[0].select

    def recording(ctx):
        picked = select(ctx)
        chosen[ctx.epoch] = sorted(range(len(data.train))) if picked is None else sorted(picked.tolist())
        return picked

    strategies[0].select = recording  # type: ignore[method-assign]
    loop = StrategyLoop(strategies, data.train, epochs=4, model=torch.nn.Identity(), steps_per_day=48,
                        target_mean=data.target_mean, target_std=data.target_std)
    callback = StrategyCallback(loop)
    module = Module(8, 6, 3, callback, data.target_mean, data.target_std)
    trainer = pl.Trainer(max_epochs=4, callbacks=[callback], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module)
    assert sorted(module.visited) == [0, 1, 2, 3]
    for epoch, windows in module.visited.items():
        assert sorted(windows) == chosen[epoch]
    assert any(log.skipped_windows for log in loop.log)  # ST-Prune skipped windows
    dynst = loop.artifacts()["dynst"]
    assert loop.log[-1].nodes_kept == dynst["kept_sensors"] and len(dynst["kept_sensors"]) == 4
    assert strategies[1].theta.abs().sum() > 0  # DynST's scores were in the optimiser: they moved
