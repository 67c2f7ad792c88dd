"""Terms: extra losses (and extra guidance conditions) with their own state, added to a stage's loss by the one
loop (:func:`lift3d.pipelines.optimize.optimize`). A new term is one file here implementing
:class:`~lift3d.pipelines.terms.base.Term`; an :mod:`init <lift3d.pipelines.inits>` or a pipeline creates it.

* :mod:`.reference`: RGB and mask MSE at the reference camera (image-to-3D, the ``instant`` preset).
* :mod:`.consensus`: silhouettes held to the majority of several lifts (the ``instant`` preset).
* :mod:`.source`: DDS's source renders of the stage's frozen starting scene.
* :mod:`.anchor`: the Gaussians' means held near their initial positions (``reconstruct``'s refinement).
"""

from __future__ import annotations

from lift3d.pipelines.terms.base import Term, restore_terms, terms_state

__all__ = ["Term", "restore_terms", "terms_state"]
