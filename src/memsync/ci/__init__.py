"""The CI merge job: its phases, the merged-set index, the shared repository on disk, the Action."""
