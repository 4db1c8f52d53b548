"""Core style-transfer losses (filled in by the next commit)."""

__all__: list[str] = []
