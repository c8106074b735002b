"""Start-up: no package imported for a feature a job does not run.

transformers imports scikit-learn's metrics (about 1 s here: scikit-learn, and scipy through it) whenever a model
class is imported, for one feature, assisted generation's adaptive candidate threshold
(``transformers/generation/candidate_generator.py``: ``roc_curve``). stagewise never generates text, yet every
training and re-ranking job paid that second (measured with ``benchmarks/startup.py``). scikit-learn stays
installed (pyserini and sentence-transformers need it); ``skip_generation_extras`` tells transformers it is absent,
through transformers' own availability flag, before transformers imports its generation code.
"""

from __future__ import annotations

import sys

#: transformers' module that imports scikit-learn for assisted generation only
_GENERATION = "transformers.generation.candidate_generator"


def skip_generation_extras() -> bool:
    """Before the first import of a transformers model class in this process: transformers treats scikit-learn as
    absent. True when the flag was set; False when it is too late (the generation code is imported) or the pinned
    transformers no longer has the flag (then nothing changes: the cost comes back, the behaviour stays)."""
    if _GENERATION in sys.modules:
        return False
    from transformers.utils import import_utils

    if not hasattr(import_utils, "_sklearn_available"):
        return False
    import_utils._sklearn_available = False
    return True
