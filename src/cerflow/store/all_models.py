"""Import every model module so Base.metadata is complete (Alembic, create_all in tests).

Domain packages add their model modules here as they appear.
"""

from cerflow.store import models  # noqa: F401
