"""How a run shows its progress: a bar on a terminal, a line per generation in a log."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class GenerationProgress:
    """Shown unless ``progress`` is False: on a terminal (stderr) tqdm's bar, advanced once per
    generation; otherwise (a log file, a pipe) one line per generation on stderr with the
    generation, the elite's fitness, the env steps so far and the generation's seconds."""

    def __init__(self, progress: bool | None, total: int, done: int) -> None:
        terminal = sys.stderr.isatty()
        self.total, self.lines = total, progress is not False and not terminal
        self.bar = tqdm(
            total=total, initial=min(done, total), unit="gen", desc="evolve",
            disable=progress is False or not terminal, dynamic_ncols=True,
        )  # fmt: skip
        self.started = time.perf_counter()

    def generation_done(self, generation: int, elite_fitness: float, env_steps: int) -> None:
        """Show the generation that ended (``generation`` of them done)."""
        self.bar.update(1)
        self.bar.set_postfix(elite=f"{elite_fitness:.2f}", steps=env_steps)
        if self.lines:
            seconds = time.perf_counter() - self.started
            print(f"evolve: generation {generation}/{self.total}, elite fitness "
                  f"{elite_fitness:.2f}, {env_steps:,} env steps, {seconds:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        self.started = time.perf_counter()

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


__all__ = ["GenerationProgress"]
