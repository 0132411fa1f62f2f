"""Console (``/console/certification/``) and workspace (``/workspace/certification/``) pages."""

from django.urls import path

from certification import views

console_urlpatterns = [
    path("policies/", views.PolicyList.as_view(), name="policies"),
    path("policies/new/", views.policy_edit, name="policy_new"),
    path("policies/<int:pk>/", views.PolicyDetail.as_view(), name="policy"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", views.PolicyDelete.as_view(), name="policy_delete"),
    path("policies/<int:pk>/start/", views.PolicyStart.as_view(), name="policy_start"),
    path("campaigns/", views.CampaignList.as_view(), name="campaigns"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/micro/", views.micro_new, name="micro_new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:pk>/report.csv", views.campaign_report, name="campaign_report"),
    path("campaigns/<int:pk>/<slug:how>/", views.campaign_close, name="campaign_close"),
]

workspace_urlpatterns = [
    path("", views.review, name="review"),
]
