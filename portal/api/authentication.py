"""`Authorization: Token <key>` with per-customer tokens (only their hash is stored)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from portal.tenants.models import ApiToken


class TokenUser:
    """The identity behind an API token: acts for one customer, as its administrator."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_customer_admin = True
    role = "admin"

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.customer = token.customer
        self.customer_id = token.customer_id
        self.pk = None
        self.id = None
        self.username = f"token:{token.prefix}"

    def __str__(self) -> str:
        return self.username


class CustomerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed token.") from exc
        token = ApiToken.find_active(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return TokenUser(token), token

    def authenticate_header(self, request) -> str:
        return self.keyword
