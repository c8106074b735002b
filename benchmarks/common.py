"""What every A/B benchmark records next to its numbers: the machine, the libraries and the command."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def machine() -> dict:
    import sentence_transformers
    import torch
    import transformers

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


def command(argv=None) -> str:
    return " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])
