"""CSV import of requests (issue #3, section 8; seed 002: "Usuário cria requisições em lote por
meio do Import").

Three steps, each a service (``run``):

* ``import_dry_run`` reads the file (UTF-8 with or without BOM, a header line), validates every
  line with the rules of ``request_create`` and writes nothing but the ``ImportJob`` with the
  refused lines and their reasons;
* ``import_run`` chooses the mode (best effort or all or nothing) and enqueues the run;
* ``import_execute`` (the Celery task) creates the requests through ``request_create`` in
  batches, one transaction per batch, recording each line's outcome in ``ImportRow`` with the
  batch. All or nothing validates every line again first and creates everything in one
  transaction, so one refused line leaves nothing behind.

``parse`` reads the file, ``validate`` checks the lines set-based, ``results`` writes the result
file. The names below are re-exported for one release; import them from their module.
"""

from requests_workflow.services.imports.parse import (
    BASE_COLUMNS,
    BATCH,
    FORMULA_START,
    LOOKUP_CHUNK,
    MAX_BYTES,
    MAX_ROWS,
    PAYLOAD_COLUMNS,
    PAYLOAD_PREFIXES,
    SOURCE,
    Line,
    ParsedFile,
    import_parse,
    importable_types,
)
from requests_workflow.services.imports.results import RESULT_HEADER, import_result_rows
from requests_workflow.services.imports.run import import_dry_run, import_execute, import_run
from requests_workflow.services.imports.validate import Accepted, Lookups, StateSets

__all__ = [
    "Accepted",
    "BASE_COLUMNS",
    "BATCH",
    "FORMULA_START",
    "LOOKUP_CHUNK",
    "Line",
    "Lookups",
    "MAX_BYTES",
    "MAX_ROWS",
    "PAYLOAD_COLUMNS",
    "PAYLOAD_PREFIXES",
    "ParsedFile",
    "RESULT_HEADER",
    "SOURCE",
    "StateSets",
    "import_dry_run",
    "import_execute",
    "import_parse",
    "import_result_rows",
    "import_run",
    "importable_types",
]
