"""vddbench's own plugins, one module per extension point, registered through the same hooks as
any third-party plugin (as llm and datasette ship theirs)."""

from . import cached_inputs, datasets, executors, full, protocols, students

DEFAULT_PLUGINS = (students, datasets, protocols, cached_inputs, executors, full)
