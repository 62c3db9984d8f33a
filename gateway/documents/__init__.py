"""Documents: validation against the format packs (storage and signing arrive with later issues)."""
