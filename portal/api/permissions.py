from rest_framework.permissions import BasePermission

from portal.api.authentication import TokenUser


class IsCustomerMember(BasePermission):
    """Authenticated and acting for a customer; writes need the customer-admin role."""

    message = "This account does not belong to a customer."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and getattr(user, "customer_id", None)):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if not getattr(user, "is_customer_admin", False):
            self.message = "Only the customer's administrators may change this."
            return False
        return True


class IsSignedInCustomerAdmin(BasePermission):
    """A customer administrator signed in to the portal (session), not an API token.

    Token management is kept out of reach of tokens themselves, so a leaked token cannot
    mint new ones or revoke the owner's.
    """

    message = "API tokens are managed by the customer's administrators in the portal."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if isinstance(user, TokenUser) or not (user and user.is_authenticated):
            return False
        return bool(getattr(user, "is_customer_admin", False))


class IsPlatformStaff(BasePermission):
    """Platform operators (staff users signed in to the portal), never a customer's token."""

    message = "Only the platform's operators may manage the platform's numbers."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if isinstance(user, TokenUser) or not (user and user.is_authenticated):
            return False
        return bool(getattr(user, "is_staff", False))
