"""``python -m gateway`` is ``tradegw``."""

from gateway.cli import main

main()
