"""Optimisation loops (text-to-3D, image-to-3D, the 2D guidance playground)."""
