"""Postgres: the embedded server, migrations, the write guard and the loader."""
