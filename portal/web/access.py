"""Who may open which portal page.

Every customer page: logged in (else redirect to login), the user belongs to a customer (platform
users without one get 403), and only customer admins may change anything (department staff
may look: any non-GET/HEAD request from them is 403). Objects are always looked up through the
customer, so another tenant's id is a 404.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def customer_page(view=None, *, staff_may_write: bool = False):
    """Decorate a view of a customer page; sets `request.customer`.

    `staff_may_write=True` for pages about the user's own account (profile, password).
    """

    def decorate(func):
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if user.customer_id is None:
                raise PermissionDenied("no customer")
            if (
                request.method not in SAFE_METHODS
                and not staff_may_write
                and not user.is_customer_admin
            ):
                raise PermissionDenied("read-only role")
            request.customer = user.customer
            return func(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate(view) if view is not None else decorate
