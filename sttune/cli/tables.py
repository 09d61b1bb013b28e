"""Rich tables for results."""

from __future__ import annotations

from rich.table import Table


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def result_table(job, result) -> Table:  # Job, TrainResult
    """Metrics per horizon (raw units) and the run's cost."""
    title = f"{job.dataset.label} · {job.model_name}" + (
        f" · {', '.join(n for n, _ in job.strategies)}" if job.strategies else ""
    )
    table = Table(title=title)
    mape = "mape" in result.val  # left out where MAPE means nothing (targets near 0)
    for col in ("split", "horizon", "MAE", "RMSE", "MAPE")[: 5 if mape else 4]:
        table.add_column(col, justify="right" if col not in ("split",) else "left")
    for split, metrics in (("val", result.val), ("test", result.test)):
        rows = [("avg", metrics)] + [(f"@{h}", m) for h, m in metrics["horizons"].items()]
        for horizon, m in rows:
            cells = [split, horizon, f"{m['mae']:.4f}", f"{m['rmse']:.4f}"]
            table.add_row(*cells, *([f"{100 * m['mape']:.2f}%"] if mape else []))
    return table


def naive_table(naive, val_mae: float) -> Table:  # NaiveForecasts
    """Naive forecasts' masked MAE next to the model's, validation and test."""
    table = Table(title="naive forecasts (masked MAE, raw units)")
    for col in ("forecast", "val MAE", "test MAE"):
        table.add_column(col, justify="left" if col == "forecast" else "right")
    for name, s in naive.scores.items():
        table.add_row(name, f"{s['val_mae']:.4f}", f"{s['test_mae']:.4f}")
    table.add_row("(model)", f"{val_mae:.4f}", "")
    return table


def cost_table(result) -> Table:  # TrainResult
    """Where the device time and memory went."""
    table = Table(title="cost", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("device", result.device)
    table.add_row("training device seconds", f"{result.device_seconds:.2f}")
    table.add_row("preparation device seconds", f"{result.prepare_seconds:.2f} (charged {result.charged_prepare_seconds:.2f})")
    table.add_row(f"peak memory ({result.memory_kind})", _fmt_bytes(result.peak_memory_bytes))
    table.add_row("epochs (best)", f"{result.epochs_run} ({result.best_epoch})")
    table.add_row("training windows (after prepare)", f"{result.n_train_windows} ({result.n_prepared_windows})")
    table.add_row("stopped by", result.stop_reason)
    return table
