"""Reads of portal notices. Always through the user and their customer."""

from __future__ import annotations

from portal.notifications.models import PortalNotice


def notices_for(*, user):
    return PortalNotice.objects.filter(
        user=user, notification__customer_id=user.customer_id
    ).select_related("notification", "notification__department")


def unread_count(*, user) -> int:
    return notices_for(user=user).filter(read_at__isnull=True).count()
