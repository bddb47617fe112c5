"""Guards that keep bad input out: safe names, no symlinks, no secrets."""
