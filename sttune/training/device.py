"""The data on the training device: copied once per process and dataset, on the device when it
fits, else kept in host memory with every batch copied over."""

from __future__ import annotations

import torch

from sttune.data.protocol import DataModule, placement

# the data moved to an accelerator by the last run of this process: the trials of a study share
# it instead of copying the whole series to the device per trial (one entry: one dataset at a time)
_ON_DEVICE: dict[tuple[str, str], DataModule] = {}


def on_device(data: DataModule, device: torch.device) -> DataModule:
    """``data`` ready for ``device``: itself on a CPU; on a GPU the series is copied once per
    process and dataset and kept (see :data:`_ON_DEVICE`), on the device when it fits
    (:func:`~sttune.data.protocol.placement`), else left in host memory with every batch
    copied over (pinned, non-blocking)."""
    if device.type == "cpu":
        return data.to(device)
    key = (data.key, str(device))
    if key not in _ON_DEVICE:
        _ON_DEVICE.clear()
        free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 2**62
        need = data.train.series_bytes() + data.node_inputs.numel() * data.node_inputs.element_size()
        where = placement(need, free)
        _ON_DEVICE[key] = data.to(device) if where == "device" else data.to("cpu", batch_device=device)
    return _ON_DEVICE[key]
