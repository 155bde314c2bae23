"""Import every model module so Base.metadata is complete (Alembic, create_all in tests).

Domain packages add their model modules here as they appear.
"""

from cerflow.alerts import models as alerts_models  # noqa: F401
from cerflow.auth import models as auth_models  # noqa: F401
from cerflow.backups import models as backups_models  # noqa: F401
from cerflow.cer_inputs import models as cer_inputs_models  # noqa: F401
from cerflow.feedback import models as feedback_models  # noqa: F401
from cerflow.jobs import models as jobs_models  # noqa: F401
from cerflow.literature import models as literature_models  # noqa: F401
from cerflow.products import models as products_models  # noqa: F401
from cerflow.reports import models as reports_models  # noqa: F401
from cerflow.store import labels as store_labels  # noqa: F401
from cerflow.store import models  # noqa: F401
from cerflow.versions import models as versions_models  # noqa: F401
from cerflow.webhooks import models as webhooks_models  # noqa: F401
