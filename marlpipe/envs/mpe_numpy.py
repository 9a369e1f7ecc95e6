"""mpe2's ``np.sum`` calls without numpy's Python dispatch layer, for the fast mpe2 path only.

mpe2 computes every distance as ``np.sqrt(np.sum(np.square(delta)))`` on 2-vectors: 21 calls of
``np.sum`` per env step on spread, 170 on world_comm. For a 2-vector the sum itself is a fraction
of a microsecond; the call is not: ``np.sum`` goes through numpy's ``__array_function__``
dispatcher, its Python ``sum`` and ``_wrapreduction`` (which builds a keyword dict) before it
reaches ``np.add.reduce(a, axis, dtype, out)``. That Python layer is about a sixth of the fast
path's time on spread at one copy.

:class:`ExactNumpy` is a context manager under which the mpe2 modules' global ``np`` is
:data:`NUMPY_FOR_MPE2`: numpy's own namespace (the same functions, the same objects) in which
only ``sum`` is :func:`exact_sum`. For a plain ``ndarray`` with no ``dtype``, ``out`` or other
keyword, :func:`exact_sum` makes the very call ``np.sum`` ends in, ``np.add.reduce(a, axis)``,
so the result is the same object type with the same bits; anything else goes to ``np.sum``
itself. mpe2's code runs unchanged; no physics, reward or observation is ours.

The swap lasts one call into mpe2 (a vector step, a reset) and undoes itself, so the PettingZoo
path (``env.fast: false``) keeps numpy's ``np.sum`` and its speed is what its users get.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np

_ndarray = np.ndarray
_add_reduce = np.add.reduce
_numpy_sum = np.sum


def exact_sum(a, axis=None, dtype=None, out=None, **kwargs):
    """``np.sum(a, axis, dtype, out, **kwargs)``: for a plain ``ndarray`` and no ``dtype``,
    ``out`` or other keyword, the ``np.add.reduce(a, axis)`` that ``np.sum`` itself calls then;
    otherwise ``np.sum``."""
    if type(a) is _ndarray and dtype is None and out is None and not kwargs:
        return _add_reduce(a, axis)
    return _numpy_sum(a, axis, dtype, out, **kwargs)


def _numpy_for_mpe2() -> types.ModuleType:
    namespace = types.ModuleType(np.__name__, np.__doc__)
    namespace.__dict__.update(vars(np))  # numpy's objects (its __getattr__ too), one name swapped
    namespace.sum = exact_sum
    return namespace


NUMPY_FOR_MPE2 = _numpy_for_mpe2()
"""numpy's namespace with ``sum`` as :func:`exact_sum`; the mpe2 modules' ``np`` inside
:class:`ExactNumpy`."""


def mpe2_modules() -> list[types.ModuleType]:
    """The loaded mpe2 modules whose global ``np`` is numpy (``import numpy as np``)."""
    return [
        module
        for name, module in list(sys.modules.items())
        if (name == "mpe2" or name.startswith("mpe2.")) and vars(module).get("np") is np
    ]


class ExactNumpy:
    """A reusable context manager: within its block, ``modules`` (from :func:`mpe2_modules`) see
    :data:`NUMPY_FOR_MPE2` as ``np``; numpy again afterwards, even when the block raises."""

    def __init__(self, modules: list[types.ModuleType]):
        self.modules = tuple(modules)

    def __reduce__(self) -> tuple:
        """Pickled (and deep-copied) as the modules' names: a module itself does not pickle."""
        return _exact_numpy, (tuple(module.__name__ for module in self.modules),)

    def __enter__(self) -> None:
        for module in self.modules:
            module.np = NUMPY_FOR_MPE2

    def __exit__(self, *exc_info: object) -> None:
        for module in self.modules:
            module.np = np


def _exact_numpy(names: tuple[str, ...]) -> ExactNumpy:
    """An :class:`ExactNumpy` over the modules named ``names`` (what a pickle holds)."""
    return ExactNumpy([importlib.import_module(name) for name in names])
