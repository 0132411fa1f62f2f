"""The kind of task subject this app owns: a certification campaign (``"certification_campaign",
id``). A reviewer's task points at the campaign it asks them to review, so My tasks and the
console queues name it and link to it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from certification.models import CertificationCampaign
from worklist.registry import SubjectRef, register_subject_kind

CAMPAIGN_SUBJECT = "certification_campaign"


def campaign_subject(campaign: CertificationCampaign) -> SubjectRef:
    return SubjectRef(CAMPAIGN_SUBJECT, campaign.pk)


def campaigns_resolve(ids: Collection[int]) -> Mapping[int, CertificationCampaign]:
    return CertificationCampaign.objects.in_bulk(list(ids))


def campaign_label(campaign: CertificationCampaign) -> str:
    return _("Certification campaign %(name)s") % {"name": campaign.name}


def campaign_console_url(campaign: CertificationCampaign) -> str:
    return reverse("console_certification:campaign", args=[campaign.pk])


def register() -> None:
    register_subject_kind(
        CAMPAIGN_SUBJECT,
        noun=cast(str, gettext_lazy("Certification campaign")),
        resolve=campaigns_resolve,
        label=campaign_label,
        console_url=campaign_console_url,
    )
