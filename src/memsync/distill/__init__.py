"""Distillation: the merged set of a project becomes reviewed rules and a knowledge base.

Pure core: ``select`` (what may be sent), ``budget`` (parts under the token budget),
``prompt`` (requests), ``answer`` (validating the model's structured answer), ``ground``
(citations mapped back to observations, statistics computed by us), ``feedback`` (the review
file), ``outputs`` (deterministic files), ``pricing`` (one price table). Edges: ``clients``
(the provider SDKs, imported lazily) and ``run`` (reads the repository, calls, writes).
"""
