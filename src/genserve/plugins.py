"""One way to register things: tasks, backends, gate metrics and CLI commands.

Each kind has a :class:`Registry`. Entries come from three places, in this order:

- genserve's own, as ``"module:attribute"`` targets imported on first use;
- installed packages, through the entry-point group of the kind (``genserve.tasks``,
  ``genserve.backends``, ``genserve.metrics``, ``genserve.commands``)::

      [project.entry-points."genserve.tasks"]
      mirror = "my_package.mirror:SPEC"

- modules named in ``GENSERVE_PLUGINS`` (comma-separated), which call the kind's ``register``
  when they are imported (:func:`import_plugins`).

An entry point may also name a module: importing it registers what it holds. A plugin that fails
to import is logged with its reason and kept in :func:`broken` (``genserve backends`` lists it),
never silently dropped.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar

log = logging.getLogger("genserve.plugins")

T = TypeVar("T")


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded, and why."""

    kind: str  # "task", "backend", "metric", "command", or "module" (GENSERVE_PLUGINS)
    name: str
    source: str  # the entry point's target or the module's name
    reason: str


_BROKEN: dict[tuple[str, str], BrokenPlugin] = {}
_IMPORTED: set[str] = set()
_LOCK = threading.RLock()


def note_broken(kind: str, name: str, source: str, exc: BaseException) -> None:
    """Log a plugin that failed to load (or to register) and keep it for :func:`broken`."""
    reason = f"{type(exc).__name__}: {exc}"
    log.warning("the %s plugin %r (%s) failed to load: %s", kind, name, source, reason)
    _BROKEN[(kind, name)] = BrokenPlugin(kind, name, source, reason)


def broken() -> list[BrokenPlugin]:
    """Every plugin that failed to load in this process, in the order they failed."""
    return list(_BROKEN.values())


def load_target(target: str) -> Any:
    """The object a ``"module:attribute"`` target names (the module itself without ``:``)."""
    module, _, attr = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


class Registry(MutableMapping[str, T], Generic[T]):
    """The entries of one kind, by name: a read-only mapping that loads itself on first use.

    ``accept`` checks (or converts) a loaded object and raises TypeError for a wrong one;
    ``name_of`` gives an object's name when it is registered without one.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        builtin: Mapping[str, str] | None = None,
        *,
        accept: Callable[[Any], T] | None = None,
        name_of: Callable[[T], str] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtin = dict(builtin or {})
        self._accept = accept or (lambda obj: obj)
        self._name_of = name_of
        self._entries: dict[str, T] = {}
        self._runtime: dict[str, T] = {}  # registered by code (plugin modules, tests): kept by reset()
        self._loaded = False

    # --- registration --------------------------------------------------------------------------

    def register(self, obj: T, name: str | None = None) -> T:
        """Add ``obj`` (under ``name``, or the name it carries); usable as a decorator. A name
        registered again is replaced (a plugin may override one of genserve's own)."""
        obj = self._accept(obj)
        key = name or (self._name_of(obj) if self._name_of else None)
        if not key:
            raise TypeError(f"a {self.kind} needs a name to be registered")
        with _LOCK:
            self._load()
            self._entries[key] = self._runtime[key] = obj
            _BROKEN.pop((self.kind, key), None)
        return obj

    def unregister(self, name: str) -> None:
        with _LOCK:
            self._load()
            self._entries.pop(name, None)
            self._runtime.pop(name, None)

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` is one of genserve's own entries."""
        return name in self._builtin

    def reset(self) -> None:
        """Load genserve's own and the entry points again on next use (tests); what code registered
        stays registered."""
        with _LOCK:
            self._entries.clear()
            self._loaded = False
            for key in [k for k in _BROKEN if k[0] == self.kind]:
                del _BROKEN[key]

    # --- loading -------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        with _LOCK:
            if self._loaded:
                return
            self._loaded = True  # before loading: a module registering itself re-enters
            for name, target in self._builtin.items():
                self._entries.setdefault(name, self._accept(load_target(target)))
            for ep in entry_points(group=self.group):
                if ep.name in self._entries:
                    continue
                try:
                    obj = ep.load()
                    if not isinstance(obj, ModuleType):  # a module registered its entries itself
                        self._entries[ep.name] = self._accept(obj)
                except Exception as exc:  # a broken plug-in must not take the service down
                    note_broken(self.kind, ep.name, ep.value, exc)
            self._entries.update(self._runtime)

    # --- the mapping (``registry[name] = obj`` registers, ``del registry[name]`` unregisters) --

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(obj, name)

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.unregister(name)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries) if self._loaded else '<not loaded>'})"


def import_plugins(modules: str) -> list[str]:
    """Import the modules named in ``modules`` (``GENSERVE_PLUGINS``: comma-separated), once each;
    they register what they hold as they load. One that fails is logged and kept in :func:`broken`.
    Returns the modules imported now."""
    done = []
    for module in filter(None, (m.strip() for m in modules.split(","))):
        with _LOCK:
            if module in _IMPORTED:
                continue
            _IMPORTED.add(module)
        try:
            importlib.import_module(module)
        except Exception as exc:
            note_broken("module", module, module, exc)
            continue
        done.append(module)
    return done
