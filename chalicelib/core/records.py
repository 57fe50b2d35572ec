"""A base for small slotted value classes: equality, hashing and repr over ``__slots__``.

The records on the event path are slotted classes or NamedTuples rather than dataclasses: on
Python 3.11 a dataclass costs 0.2-0.65 ms to create at import (it compiles generated source
for each method), and a cold Lambda container's first event paid about 35 ms for them
(``bench/coldstart.py``, docs/deploy.md). A subclass declares ``__slots__`` and ``__init__``;
two records are equal only if they have the very same type (``SAnd(x) != SOr(x)``).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, ClassVar


def slots_repr(obj: object) -> str:
    """``Name(field=value, ...)`` over the class's ``__slots__``: the repr a dataclass has."""
    cls = type(obj)
    names: tuple[str, ...] = getattr(cls, "_names", None) or cls.__slots__  # type: ignore[attr-defined]
    fields = ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)
    return f"{cls.__name__}({fields})"


class SlotRecord:
    """Pass ``hashable=False`` for a mutable record (equality without a hash, as a dataclass)."""

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]]  # every slot, base classes first
    _values: ClassVar[Callable[..., tuple[Any, ...]]]  # a staticmethod: obj -> slot values

    def __init_subclass__(cls, hashable: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(name for klass in reversed(cls.__mro__)
                      for name in klass.__dict__.get("__slots__", ()))
        if not names:
            raise TypeError(f"{cls.__name__} declares no __slots__")
        cls._names = names
        if len(names) == 1:
            name = names[0]
            cls._values = staticmethod(lambda obj: (getattr(obj, name),))  # type: ignore[assignment]
        else:
            cls._values = staticmethod(attrgetter(*names))  # type: ignore[assignment]
        if not hashable:
            cls.__hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values(self) == self._values(other)

    def __hash__(self) -> int:
        return hash((type(self), self._values(self)))

    __repr__ = slots_repr
