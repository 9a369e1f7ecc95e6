"""MADDPG (Lowe et al. 2017, https://arxiv.org/abs/1706.02275) as a special case of MATD3."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from marlpipe.algos.matd3 import MATD3
from marlpipe.envs.spec import EnvSpec


class MADDPG(MATD3):
    """Per-agent actors with one centralised critic each: MATD3 without twin critics, policy
    delay or target policy smoothing (as SB3's DDPG is TD3 with ``n_critics=1, policy_delay=1``).

    Defaults are tuned for our speaker-listener runs (``../shared/STYLE.md`` speed notes: greedy
    score about -20 after 200k env steps) and differ from the AgileRL tutorial's MADDPG values
    in ``../shared/seed/agilerl-multi-agent-training.txt``:

    - ``lr_critic=1e-3`` (reference 0.01): the rate those runs were tuned with.
    - ``learn_step=100`` (reference 5): learning less often keeps the env-bound loop fast.
    - ``batch_size=1024`` (as the reference's MADDPG; its MATD3 example uses 32).
    """

    algo_name: ClassVar[str] = "MADDPG"
    n_critics: ClassVar[int] = 1
    target_smoothing: ClassVar[bool] = False
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        "batch_size", "lr_actor", "lr_critic", "gamma", "tau", "learn_step", "expl_noise",
    )  # fmt: skip

    def __init__(
        self,
        spec: EnvSpec,
        net_config: dict[str, Any] | None = None,
        *,
        batch_size: int = 1024,
        lr_actor: float = 1e-3,
        lr_critic: float = 1e-3,
        gamma: float = 0.95,
        tau: float = 0.01,
        learn_step: int = 100,
        expl_noise: float = 0.1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        index: int = 0,
    ) -> None:
        super().__init__(
            spec, net_config, batch_size=batch_size, lr_actor=lr_actor, lr_critic=lr_critic,
            gamma=gamma, tau=tau, learn_step=learn_step, policy_freq=1, expl_noise=expl_noise,
            target_noise=0.0, target_noise_clip=0.0, device=device, seed=seed, index=index,
        )  # fmt: skip
