"""Third-party noise a user cannot act on, silenced where it starts.

transformers draws a "Loading weights" bar for every model it loads (a log
line of control characters in a service's log, a flash in a CLI), peft warns
that the built-in model ties its embeddings (it does, on purpose), and
transformers warns about a deprecation inside its own code. None of it says
anything to someone running Continuum. Called before those libraries are
imported (logging set-up, the CLI's entry), so their import-time settings
see it; nothing here imports them.
"""

from __future__ import annotations

import os
import re
import warnings

#: (category, start of the message) of each warning silenced.
SILENCED: tuple[tuple[type[Warning], str], ...] = (
    (UserWarning, "Model has `tie_word_embeddings=True`"),
    (FutureWarning, "`is_gradient_checkpointing` is deprecated"),
)


def quiet_model_libraries() -> None:
    # transformers reads huggingface_hub's switch when it is imported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for category, start in SILENCED:
        warnings.filterwarnings("ignore", message=re.escape(start), category=category)
