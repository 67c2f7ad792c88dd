"""Training commands for the models lift3d bundles (``lift3d train-prior``)."""
