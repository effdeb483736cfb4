"""One file per schema revision, oldest first; each says what changed and why."""
