"""Forge adapters (GitHub, GitLab, Bitbucket) behind one small interface."""
