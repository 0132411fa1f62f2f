"""Routes of the directory under ``/api/v1/``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from directory.api import views

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("resources", views.ResourceViewSet, basename="resource")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("entitlements", views.EntitlementViewSet, basename="entitlement")
router.register(
    "entitlement-memberships", views.EntitlementMembershipViewSet, basename="entitlement-membership"
)
router.register("roles", views.RoleViewSet, basename="role")
router.register("role-memberships", views.RoleMembershipViewSet, basename="role-membership")
router.register("role-changes", views.RoleChangeViewSet, basename="role-change")
router.register("directory-events", views.DirectoryEventViewSet, basename="directory-event")
router.register("attribute-definitions", views.AttributeDefinitionViewSet, basename="attribute-definition")

urlpatterns = [
    path("username-policy/", views.UsernamePolicyView.as_view(), name="username-policy"),
    *router.urls,
]
