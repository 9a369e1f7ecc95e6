"""Cheaper data access on the mpe2 objects a :class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv` owns,
with mpe2's arithmetic untouched: no physics, reward or observation code is replaced.

mpe2 reads its state through properties: ``World.entities`` builds ``agents + landmarks`` anew on
every read (several times per ``World.step``), and ``EntityState.p_pos``/``p_vel``,
``AgentState.c``, ``Action.u``/``c`` each run a Python getter that asserts the value is set
(about 100 reads per step on spread). :func:`speed_up` swaps the classes of one env copy's world,
entity states and actions for subclasses made once per class (``type(obj)``-derived, so
``isinstance`` and every other method stay mpe2's) in which those names are plain instance
attributes: the same objects are read and written, only the getters' calls go. The world's
``entities`` is then the list ``agents + landmarks`` (same objects, same order), made again by
:func:`refresh` after every reset: no mpe2 1.1.1 scenario changes its agent or landmark lists
after ``make_world`` (the lists are built there; ``world_comm`` appends its food and forests to
``landmarks`` there too). Only mpe2's own property objects are replaced; a class that overrides
one keeps it, and an object replaced by mpe2 later (a scripted agent's new ``Action``) is simply
mpe2's again. The one behaviour lost: reading a value before it is set gives ``None`` instead of
mpe2's ``AssertionError``. The subclasses are made at run time, so their objects pickle as "this
mpe2 class, made plain" (:func:`_plain_object`): a pickled fast env loads in another process.
"""

from __future__ import annotations

from typing import Any

_PLAIN: dict[type, type] = {}  # mpe2 class -> its subclass with plain attributes


def _plain_class(cls: type, names: tuple[str, ...], base: type) -> type | None:
    """``cls``'s subclass in which each of ``names`` (still ``base``'s own property on ``cls``)
    is a plain attribute; ``None`` when ``cls`` overrides one of them."""
    if cls in _PLAIN.values():
        return cls
    if any(getattr(cls, name, None) is not getattr(base, name) for name in names):
        return None
    if cls not in _PLAIN:
        body = {name: None for name in names}  # shadows the property: the instance's value wins
        body["__module__"] = __name__
        body["__doc__"] = f"mpe2's {cls.__name__} with {', '.join(names)} as plain attributes."
        body["__reduce_ex__"] = _reduce_plain
        body["_plain_of"] = (cls, names, base)
        _PLAIN[cls] = type(f"Plain{cls.__name__}", (cls,), body)
    return _PLAIN[cls]


def _reduce_plain(obj: Any, protocol: int) -> tuple:
    """How an object of a plain-attribute class pickles (and deep-copies): rebuilt through
    :func:`_plain_object` from its mpe2 class, then given its attributes."""
    return _plain_object, type(obj)._plain_of, vars(obj)


def _plain_object(cls: type, names: tuple[str, ...], base: type) -> Any:
    """A new, empty object of ``cls``'s plain-attribute class (made again if need be)."""
    return object.__new__(_plain_class(cls, names, base))


def _swap(obj: Any, names: tuple[str, ...], base: type, stored: tuple[str, ...]) -> None:
    """Give ``obj`` its plain-attribute class, moving each value from the attribute mpe2's
    property stores it in (``stored``) to the plain one."""
    plain = _plain_class(type(obj), names, base)
    if plain is None or type(obj) is plain:
        return
    values = vars(obj)
    for name, where in zip(names, stored, strict=True):
        values[name] = values.pop(where, None)
    obj.__class__ = plain


def speed_up(raw: Any) -> None:
    """Swap the classes of the world, entity states and actions of the mpe2 ``SimpleEnv`` ``raw``
    (see the module doc); call :func:`refresh` after each of its resets."""
    from mpe2._mpe_utils.core import Action, AgentState, EntityState, World

    world = raw.world
    for entity in world.agents + world.landmarks:
        state = entity.state
        if isinstance(state, AgentState):
            _swap(state, ("p_pos", "p_vel", "c"), AgentState, ("_p_pos", "_p_vel", "_c"))
        else:
            _swap(state, ("p_pos", "p_vel"), EntityState, ("_p_pos", "_p_vel"))
        action = getattr(entity, "action", None)
        if isinstance(action, Action):
            _swap(action, ("u", "c"), Action, ("_u", "_c"))
    plain = _plain_class(type(world), ("entities",), World)
    if plain is not None:
        world.__class__ = plain
        refresh(raw)


def refresh(raw: Any) -> None:
    """Make the swapped world's ``entities`` again from its agents and landmarks."""
    world = raw.world
    if type(world) in _PLAIN.values():
        world.entities = world.agents + world.landmarks
