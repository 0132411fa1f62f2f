"""URLs of the e-mail approval links, included at ``approvals/`` (namespace ``email_approvals``)."""

from django.urls import path

from requests_workflow import emailviews

app_name = "email_approvals"

urlpatterns = [
    path("<str:token>/", emailviews.confirm, name="confirm"),
]
