"""`python -m nexus.cli`: the `nexus` command without its installed script."""

from nexus.cli import app

app()
