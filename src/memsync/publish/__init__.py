"""Getting results out: git, push with retry, the PR/MR flow and the forge adapters."""
