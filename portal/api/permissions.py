from rest_framework.permissions import BasePermission


class IsCustomerMember(BasePermission):
    """Authenticated and acting for a customer; writes need the customer-admin role."""

    message = "This account does not belong to a customer."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and getattr(user, "customer_id", None)):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return bool(getattr(user, "is_customer_admin", False))
