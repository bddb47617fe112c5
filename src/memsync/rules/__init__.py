"""``mem-sync rules sync``: the team's reviewed rules in every assistant's memory files.

A room of its own rather than a corner of ``distill/``: distillation *produces* rules in the
memory repository (and calls a model), this package only *reads* its output
(``distilled/<project>/rules.json`` and ``feedback.json``, see docs/rules.md) and delivers it
to a different repository, the code repository, through the publishing machinery. Keeping the
two apart means delivery never imports an LLM SDK and either side can change its internals as
long as the files between them keep their shape.

    source.py   rules.json + feedback.json -> the rules to deliver (pure parsing)
    scope.py    evidence files -> directory globs (pure)
    blocks.py   managed blocks inside files people own (pure)
    targets.py  every target's files, with the size budget (pure)
    sync.py     the thin shell: read the checkout, write what differs, remove what is stale
"""
