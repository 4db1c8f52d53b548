"""Pure feature-space operations (style swap, whitening and colouring), one pair at a time."""
