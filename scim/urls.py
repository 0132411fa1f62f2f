"""``/scim/v2/`` (RFC 7644 §3.2)."""

from django.urls import path, re_path

from scim import bulk, views

urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config_view),
    path("Schemas", views.schemas_view),
    path("Schemas/<str:schema_id>", views.schemas_view),
    path("ResourceTypes", views.resource_types_view),
    path("ResourceTypes/<str:type_id>", views.resource_types_view),
    path("Users", views.users),
    path("Users/.search", views.users_search),
    path("Users/<str:pk>", views.user_detail),
    path("Groups", views.groups),
    path("Groups/.search", views.groups_search),
    path("Groups/<str:pk>", views.group_detail),
    path("Bulk", bulk.bulk_view),
    path(".search", views.root_search),
    re_path(r"^(?P<rest>.*)$", views.not_found_view),
]
