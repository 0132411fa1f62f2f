"""Routes of the adapter API under ``/api/v1/adapter/``."""

from django.urls import path

from provisioning.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="adapter-me"),
    path("pull/", views.PullView.as_view(), name="adapter-pull"),
    path("reports/", views.ReportsView.as_view(), name="adapter-reports"),
    path("entries/<int:entry_id>/lease/", views.LeaseView.as_view(), name="adapter-entry-lease"),
    path("entries/<int:entry_id>/success/", views.SuccessView.as_view(), name="adapter-entry-success"),
    path("entries/<int:entry_id>/failure/", views.FailureView.as_view(), name="adapter-entry-failure"),
    path(
        "entries/<int:entry_id>/credentials/", views.CredentialView.as_view(), name="adapter-entry-credential"
    ),
]
