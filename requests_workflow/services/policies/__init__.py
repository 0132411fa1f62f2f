"""Configuring the request policies (issue #3, sections 2 and 3): approval policies with their
ordered levels, and validation policies. Each service validates everything first and raises
``ValidationFailed`` with field errors before writing anything; each writes its audit event in
its own transaction.

Requests in flight keep working: a policy that requests are still waiting under cannot be
deleted (deactivate it instead), and its levels cannot be removed or reordered while requests wait
for approval under it (the pipeline opens the next level by position).

One module per kind of thing configured: ``approval`` (policies), ``levels`` (their approval
levels), ``validation`` (validation policies); ``common`` is what they share. The public names
below are re-exported for one release; import them from their module.
"""

from requests_workflow.services.policies.approval import (
    APPROVAL_FIELDS,
    approval_policy_create,
    approval_policy_delete,
    approval_policy_set_active,
    approval_policy_update,
)
from requests_workflow.services.policies.common import MAX_PRIORITY
from requests_workflow.services.policies.levels import (
    approval_level_add,
    approval_level_move,
    approval_level_remove,
    approval_level_update,
)
from requests_workflow.services.policies.validation import (
    VALIDATION_FIELDS,
    validation_policy_create,
    validation_policy_delete,
    validation_policy_set_active,
    validation_policy_update,
)

__all__ = [
    "APPROVAL_FIELDS",
    "MAX_PRIORITY",
    "VALIDATION_FIELDS",
    "approval_level_add",
    "approval_level_move",
    "approval_level_remove",
    "approval_level_update",
    "approval_policy_create",
    "approval_policy_delete",
    "approval_policy_set_active",
    "approval_policy_update",
    "validation_policy_create",
    "validation_policy_delete",
    "validation_policy_set_active",
    "validation_policy_update",
]
