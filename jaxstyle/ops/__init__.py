"""Pure operations of the methods, on images or encoder activations: jit/vmap-able, no weights.

- :mod:`~jaxstyle.ops.style_swap`: patch-based style swap (Chen & Schmidt 2016);
- :mod:`~jaxstyle.ops.wct`: whitening and colouring transforms (Li et al. 2017);
- :mod:`~jaxstyle.ops.nbb`: Neural Best-Buddies correspondences (Aberman et al. 2018);
- :mod:`~jaxstyle.ops.tps`: the thin-plate-spline image warp of Deformable Style Transfer.
"""
