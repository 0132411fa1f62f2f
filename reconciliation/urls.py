"""Console pages of reconciliation (``/console/reconciliation/``)."""

from django.urls import path

from reconciliation import views

console_urlpatterns = [
    path("profiles/", views.ProfileList.as_view(), name="profiles"),
    path("profiles/new/", views.profile_edit, name="profile_new"),
    path("profiles/<int:pk>/", views.ProfileDetail.as_view(), name="profile"),
    path("profiles/<int:pk>/edit/", views.profile_edit, name="profile_edit"),
    path("profiles/<int:pk>/delete/", views.ProfileDelete.as_view(), name="profile_delete"),
    path("profiles/<int:pk>/run/", views.profile_run, name="profile_run"),
    path("profiles/<int:pk>/test-expression/", views.expression_test, name="expression_test"),
    path("runs/", views.RunList.as_view(), name="runs"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="run"),
    path("runs/<int:pk>/<slug:decision>/", views.run_decide, name="run_decide"),
    path("cases/", views.CaseList.as_view(), name="cases"),
    path("cases/<int:pk>/", views.CaseDetail.as_view(), name="case"),
    path("cases/<int:pk>/resolve/", views.case_decide, name="case_decide"),
]
