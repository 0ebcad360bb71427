"""What an executor declares: its name, what it needs installed and its options (``vddbench run`` flags).

Executors are registered through the ``register_executors`` hook (vddbench registers ``local``,
``ray`` and ``slurm`` the same way); the ``run`` command's ``--executor`` choices, its executor
flags, the ``does not take`` error and the keys of a ``--config`` file are all built from these.
This module imports nothing heavy, so a plugin may import it at module level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPTION_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
OPTION_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class ExecutorOption:
    """One option of an executor: the flag ``--<name>`` of ``vddbench run`` and the key ``<name>`` of
    a config file's ``[run]`` table; the executor's factory receives it as ``keyword``.

    ``type`` is ``str``, ``int``, ``float`` or ``bool`` (a bool option is a flag that takes no value);
    a ``repeatable`` option may be given several times and arrives as a tuple. ``default`` is what the
    factory receives when the option is not given (None: the factory decides, and ``help`` says what).
    Options of the same name declared by several executors are one flag, so they must agree on
    ``type``, ``repeatable``, ``keyword`` and ``choices``.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    repeatable: bool = False
    keyword: str = ""  # default: ``name`` with '_' for '-'
    aliases: tuple[str, ...] = ()  # other flag names, e.g. ("gpus",) for --gpus-per-cell
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None

    def __post_init__(self):
        for name in (self.name, *self.aliases):
            if not isinstance(name, str) or not OPTION_NAME.match(name):
                raise ValueError(f"executor option name {name!r}: use lowercase words joined by '-' "
                                 f"(the flag without its leading dashes, e.g. 'ray-address')")
        if self.type not in OPTION_TYPES:
            raise ValueError(f"executor option '{self.name}': type must be str, int, float or bool")
        if self.type is bool and (self.repeatable or self.choices is not None or self.default):
            raise ValueError(f"executor option '{self.name}': a bool option is a flag (off unless given); "
                             f"it cannot repeat, have choices or default to True")
        if not self.keyword:
            object.__setattr__(self, "keyword", self.name.replace("-", "_"))
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @property
    def dest(self) -> str:
        """The attribute of the parsed ``vddbench run`` arguments (and config key with '_')."""
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return "--" + self.name

    def shape(self) -> tuple:
        """What two executors declaring this option must agree on."""
        return self.type, self.repeatable, self.keyword, self.choices, self.aliases


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor: ``factory(threads=..., **options)`` returns an object with
    ``run(cells, results_root, on_done)`` (see :mod:`vddbench.executors`).

    ``threads`` is the protocol's torch thread count per cell; ``options`` are the values of the
    ``options`` it declares (keyword -> value, the declared default when not given), plus any other
    keyword a caller of :func:`vddbench.executors.get_executor` passes. ``requires`` names modules the
    executor imports, checked before it is built; ``extra`` is the vddbench extra that installs them
    (``pip install 'vddbench[<extra>]'``), if any.
    """

    name: str
    description: str
    factory: Callable[..., Any]
    options: tuple[ExecutorOption, ...] = ()
    extra: str | None = None
    requires: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "requires", tuple(self.requires))
        if not all(isinstance(o, ExecutorOption) for o in self.options):
            raise TypeError(f"executor '{self.name}': options must be vddbench.ExecutorOption")
        names = [n for o in self.options for n in (o.name, *o.aliases, "=" + o.keyword)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"executor '{self.name}' declares option(s) {', '.join(twice)} more than once "
                             f"('=x': two options passed as keyword x)")
        if not callable(self.factory):
            raise TypeError(f"executor '{self.name}': factory must be callable")
        if not self.description or "\n" in self.description:
            raise ValueError(f"executor '{self.name}': give a one-line description")

    def option(self, keyword: str) -> ExecutorOption | None:
        return next((o for o in self.options if o.keyword == keyword), None)
