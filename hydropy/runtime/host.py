"""The Ray actor that hosts one member of one stage, loading the stage's code from disk."""
from __future__ import annotations

import os
from typing import Any


def load_stage_class(compiled_dir: str, stage_file: str, class_name: str):
    """Import ``stage_file`` of a compiled directory, its program only from the directory's
    ``program/`` (see :func:`hydropy.targets.compile.load_stage_class`)."""
    from hydropy.targets.compile import load_stage_class as load
    return load(compiled_dir, stage_file, class_name)


class StageHost:
    """One member of a stage. ``tick`` returns one packed batch per (outgoing channel,
    receiving member), in the order of ``slots``, then a status ``(records sent, quiescent)``."""

    def __init__(self, compiled_dir: str, stage_file: str, class_name: str, member: int,
                 members: int, receivers: dict[str, int]):
        base = compiled_dir if os.path.isdir(compiled_dir) else os.getcwd()  # cluster: working_dir
        cls = load_stage_class(base, stage_file, class_name)
        self.stage = cls(member, members, receivers)
        self.slots = [(c, j) for c in sorted(cls.CHANNELS_OUT) for j in range(receivers.get(c, 1))]

    def tick(self, names: list[str], external: dict[str, list], *received: Any):
        batches: dict[str, list] = {name: [packed] for name, packed in external.items()}
        for name, packed in zip(names, received):
            batches.setdefault(name, []).append(packed)
        before = self.stage.sent
        routed = self.stage.run_tick(batches)
        out = [routed[c][j] for c, j in self.slots]
        status = (self.stage.sent - before, self.stage.quiescent)
        return (*out, status) if out else status

    def results(self):
        return self.stage.results()

    def compile_seconds(self) -> float:
        """Seconds this member's stage spent compiling (or loading) its kernels at start."""
        return self.stage.compile_seconds
