"""The developer's machine: configuration, the claude-mem database, export and import."""
