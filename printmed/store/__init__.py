"""The store: SQLAlchemy 2 engine, sessions, tables and migrations, on SQLite or PostgreSQL.

`open_store(url)` gives a migrated `Store`; the same code serves both databases.
"""

from printmed.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
