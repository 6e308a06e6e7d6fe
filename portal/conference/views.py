"""Portal pages of conference rooms ("Настроить АТС" → "Конференции"): the rooms, who is in
each right now (rows kept by call control), and mute/unmute/kick. Everything is looked up
through `request.customer`: another tenant's room or member is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _t
from django.views.decorators.http import require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.conference import selectors, services
from portal.conference.models import MemberCommand, Room
from portal.directory.models import PhoneNumber
from portal.web.access import customer_page


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = list(services.ROOM_FIELDS)

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["number"].queryset = PhoneNumber.objects.filter(
            customer=customer, kind__in=services.ROUTABLE_KINDS
        )
        self.fields["record"].help_text = _t("Пишется, только когда включена запись разговоров.")

    def validate_unique(self):  # the service checks, scoped to the customer
        pass


@customer_page
def index(request):
    customer = request.customer
    members: dict[int, list] = {}
    for member in selectors.live_members(customer.pk):
        members.setdefault(member.room_id, []).append(member)
    rows = [(room, members.get(room.pk, [])) for room in selectors.rooms(customer.pk)]
    return render(
        request,
        "conference/index.html",
        {
            "rows": rows,
            "enabled": option_enabled(customer.pk, Option.CONFERENCE),
            "recording": option_enabled(customer.pk, Option.CALL_RECORDING),
            "can_edit": request.user.is_customer_admin,
        },
    )


@customer_page
def edit(request, pk: int | None = None):
    customer = request.customer
    room = get_object_or_404(Room, customer=customer, pk=pk) if pk else None
    form = RoomForm(request.POST or None, instance=room, customer=customer)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in services.ROOM_FIELDS}
        try:
            services.room_save(customer=customer, room=room, **fields)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _t("Комната сохранена."))
            return redirect("conference:index")
    return render(
        request,
        "conference/edit.html",
        {"form": form, "room": room},
        status=400 if form.errors else 200,
    )


@customer_page
@require_POST
def delete(request, pk: int):
    if not services.room_delete(customer=request.customer, pk=pk):
        raise Http404("no such room")
    messages.success(request, _t("Комната удалена."))
    return redirect("conference:index")


@customer_page
@require_POST
def member_action(request, pk: int, action: str):
    if action not in MemberCommand.Action.values:
        raise Http404("no such action")
    if (
        services.member_command_request(customer=request.customer, participant_pk=pk, action=action)
        is None
    ):
        raise Http404("no such member")
    messages.success(request, _t("Команда отправлена."))
    return redirect("conference:index")
