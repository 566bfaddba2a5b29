"""``mass-tui evaluate``: detection measured against labelled corpora nobody tuned it on."""
