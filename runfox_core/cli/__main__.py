"""__main__.py -- ``python -m runfox_core.cli``: the ``runfox`` command without installing the script."""

from . import run

run()
