"""``python -m qlambda.cli``: the ``qlambda`` command."""

from qlambda.cli import main

main()
