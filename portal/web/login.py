"""Staff login with throttling, lockout and an audit row per attempt.

Each attempt is counted before the password is looked at (`throttle.hit`), per account (the
username as typed, case-folded) and per client IP; an attempt over either limit is refused
without checking the password, so a correct password guessed after 100 wrong ones still does
not log in until the lockout ends. A successful login clears its account's count and takes its
own attempt back from the IP's, so an office behind one address is not locked by its own
staff. Every attempt leaves a `LoginAudit` row; a lockout is also logged as a warning.

Used by the portal's login page and by the Django admin's (`WebConfig.ready`).

Settings (getattr, optional): LOGIN_FAILURES_PER_ACCOUNT (5), LOGIN_ATTEMPTS_PER_IP (30),
LOGIN_LOCKOUT_SECONDS (900: the window of both).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

from portal.web import throttle
from portal.web.models import LoginAudit

log = logging.getLogger(__name__)


def _limits() -> tuple[int, int, int]:
    return (
        int(getattr(settings, "LOGIN_FAILURES_PER_ACCOUNT", 5)),
        int(getattr(settings, "LOGIN_ATTEMPTS_PER_IP", 30)),
        int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900)),
    )


def locked_message(minutes: int) -> str:
    return ngettext(
        "Слишком много попыток входа. Вход временно заблокирован, попробуйте через %(n)d минуту.",
        "Слишком много попыток входа. Вход временно заблокирован, попробуйте через %(n)d минут.",
        minutes,
    ) % {"n": minutes}


class ThrottledLoginMixin:
    """`clean()` of Django's AuthenticationForm, counted, locked out and audited."""

    request = None

    def clean(self):
        username = (self.cleaned_data.get("username") or "")[:150]
        ip = throttle.client_ip(self.request) if self.request is not None else "unknown"
        per_account, per_ip, window = _limits()
        account_key, ip_key = f"login-account:{username.casefold()}", f"login-ip:{ip}"
        by_ip = throttle.hit(ip_key, limit=per_ip, window=window)
        by_account = throttle.hit(account_key, limit=per_account, window=window)
        refused = [v for v in (by_ip, by_account) if not v.allowed]
        if refused:
            self._audit(username, ip, LoginAudit.Outcome.LOCKED)
            log.warning("staff login locked: user %r from %s", username, ip)
            raise ValidationError(
                locked_message(max(v.retry_minutes for v in refused)), code="locked"
            )
        try:
            data = super().clean()
        except ValidationError:
            self._audit(username, ip, LoginAudit.Outcome.FAILURE)
            raise
        self._audit(username, ip, LoginAudit.Outcome.SUCCESS, user=self.get_user())
        throttle.reset(account_key, window=window)
        throttle.forgive(ip_key, window=window)
        return data

    @staticmethod
    def _audit(username: str, ip: str, outcome: str, user=None) -> None:
        try:
            LoginAudit.objects.create(
                username=username, ip=ip if ip != "unknown" else None, outcome=outcome, user=user
            )
        except ValueError:  # not an IP address (REMOTE_ADDR from an odd server)
            LoginAudit.objects.create(username=username, outcome=outcome, user=user)


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    """The portal's login page; a locked-out attempt answers 429."""

    authentication_form = ThrottledAuthenticationForm
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if any(e.code == "locked" for e in form.non_field_errors().as_data()):
            response.status_code = 429
        return response
