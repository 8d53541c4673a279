"""``python -m pycodec`` is the ``dcz`` command."""

from pycodec.cli import main

raise SystemExit(main())
