"""The blacklist's part of the public dialplan: extensions before the number's own one that
catch a listed caller (`caller_id_number` against the list's regular expressions) and reject
the call, busy or with a prompt, in early media (never answered, never billed).

The rejected leg carries `pbx_customer`, `pbx_number` and `pbx_blacklisted` (`true`, or
`anonymous`), so its CDR reaches `portal.blacklist.services.on_cdr_batch_ingested`, which logs
it. Nothing is rendered while the option is off or the list is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx.dialplan import Contribution, InboundCall
from pbx.render import exact
from pbx.xmlbuild import action, db_id, sub

OPTION = "blacklist"  # portal.billing.models.Option.BLACKLIST
BUSY = "busy"
PROMPT = "prompt"
#: said to a rejected caller (a catalog key of portal.prompts); it does not say "blocked"
PROMPT_KEY = "service_unavailable"
_LANGUAGES = {"ru", "en"}


@dataclass(frozen=True)
class Loaded:
    action: str
    block_anonymous: bool
    patterns: tuple[str, ...]


class BlacklistDialplan(Contribution):
    name = "blacklist"
    option = OPTION

    def load_inbound(self, customer_id: int, number) -> Loaded | None:
        """One query for a customer who never used the blacklist (no settings row: every
        write creates it), two otherwise."""
        from portal.blacklist import rules, selectors
        from portal.blacklist.models import BlacklistSettings

        settings = BlacklistSettings.objects.filter(customer_id=customer_id).first()
        if settings is None:
            return None
        return Loaded(
            action=settings.action,
            block_anonymous=settings.block_anonymous,
            patterns=tuple(rules.caller_patterns(selectors.rule_entries(customer_id))),
        )

    def inbound_screen(self, call: InboundCall) -> None:
        loaded = call.data.get(self.name)
        if OPTION not in call.options or not isinstance(loaded, Loaded):
            return
        from portal.blacklist.rules import ANONYMOUS_PATTERN

        screens = [("true", p) for p in loaded.patterns]
        if loaded.block_anonymous:
            screens.append(("anonymous", ANONYMOUS_PATTERN))
        customer_id, number_id = db_id(call.customer.pk), db_id(call.number.pk)
        for index, (tag, pattern) in enumerate(screens, start=1):
            extension = sub(call.context, "extension", name=f"blacklist_n{number_id}_{index}")
            sub(
                extension,
                "condition",
                field="destination_number",
                expression=exact(call.destination),
            )
            condition = sub(extension, "condition", field="caller_id_number", expression=pattern)
            action(condition, "set", f"pbx_customer={customer_id}")
            action(condition, "set", f"pbx_number={number_id}")
            action(condition, "set", f"pbx_blacklisted={tag}")
            if loaded.action == PROMPT:
                language = getattr(call.customer, "language", "ru")
                language = language if language in _LANGUAGES else "ru"
                action(condition, "pre_answer")
                action(condition, "sleep", "300")
                action(condition, "playback", f"$${{pbx_sounds_dir}}/{language}/{PROMPT_KEY}.wav")
                action(condition, "hangup", "CALL_REJECTED")
            else:
                action(condition, "hangup", "USER_BUSY")


dialplan = BlacklistDialplan()
