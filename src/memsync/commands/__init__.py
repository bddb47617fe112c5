"""One module per CLI command; ``memsync.cli`` imports them lazily so ``--help`` stays fast."""
