"""What every method builds on: the stylizer call, optimization and per-style stylizers, the
training plug-in interface."""
