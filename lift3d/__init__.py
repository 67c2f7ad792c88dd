"""lift3d: text and images to 3D assets."""
