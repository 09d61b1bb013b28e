"""Built-in forecasting backbones, registered as ``sttune.models`` entry points.

- ``stid``  (:mod:`sttune.models.stid`):  STID, identity embeddings + MLP, no graph.
- ``gwnet`` (:mod:`sttune.models.gwnet`): Graph WaveNet, dilated TCN + diffusion graph conv.
- ``stgcn`` (:mod:`sttune.models.stgcn`): STGCN, temporal convs + Chebyshev graph conv.
- ``mtgnn`` (:mod:`sttune.models.mtgnn`): MTGNN, a learned graph, mix-hop propagation and
  dilated inception convs (the model STemDist's authors distil with).

All four take ``node_embedding="table" | "encoder"``; :mod:`sttune.models.encoder` holds the
shared location encoder. Modules are not imported here so that loading one entry point
does not pull in the others.
"""
