"""Pagination of every API list: `?limit=` capped at MAX_LIMIT and `?offset=` at MAX_OFFSET.

DRF's LimitOffsetPagination without `max_limit` passed `?limit=9223372036854775808` straight to
the database (a 500 on PostgreSQL's bigint); an offset that large did the same. Both are capped
here, which keeps the answer a 200 with at most MAX_LIMIT rows."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
MAX_OFFSET = 10**9


class Pagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
