"""The database engine of a worker process, shared by every Celery task it runs.

Built on first use from the process's settings and re-created after fork
(`cerflow.jobs.worker` resets it on `worker_process_init`), because prefork children must
not share the parent's sockets. Task functions are synchronous and use the sync engine.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Settings, get_settings
from cerflow.db import make_engine, make_session_factory


class WorkerRuntime:
    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(settings=self.settings)
            self._factory = make_session_factory(self._engine)
        return self._engine

    @property
    def factory(self) -> sessionmaker[Session]:
        _ = self.engine
        assert self._factory is not None
        return self._factory

    def reset(self) -> None:
        if self._engine is not None:
            self._engine.dispose(close=False)
        self._engine = None
        self._factory = None


runtime = WorkerRuntime()
