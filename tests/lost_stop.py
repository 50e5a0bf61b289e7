"""A stop signal whose raise Python drops: the tests of each loop that looks for such a stop."""

from __future__ import annotations

import os
import signal


class StopInFinalizer:
    """Made and dropped at once (``StopInFinalizer()``), it is finalized there: its ``__del__``
    sends SIGTERM to this process, whose handler runs at the method's next steps and raises
    :class:`snnsim.cli.Interrupted` inside it, where Python prints "Exception ignored" (to
    ``sys.unraisablehook``) and drops the raise."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at this method's next steps
        for _ in range(1000):
            pass
