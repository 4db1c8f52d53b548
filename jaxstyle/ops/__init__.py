"""Pure feature-space operations on encoder activations (style swap, WCT): jit/vmap-able, no weights."""
