"""Portal pages of voicemail ("Настроить АТС" → Голосовая почта): boxes, greetings, messages
played in the browser. Everything is looked up through `request.customer`: another tenant's
box or message is a 404."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.voicemail import selectors, services
from portal.voicemail.forms import GreetingTextForm, GreetingUploadForm, MailboxForm
from portal.voicemail.models import Mailbox, Message
from portal.web.access import customer_page

PAGE_SIZE = 50


@customer_page
def index(request):
    customer = request.customer
    form = MailboxForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        box = form.save(commit=False)
        box.customer = customer
        services.mailbox_save(customer=customer, box=box, pin=form.cleaned_data.get("pin") or None)
        flash.success(request, _("Ящик создан."))
        return redirect("voicemail:box", box.pk)
    box_id = request.GET.get("box")
    box_id = int(box_id) if box_id and box_id.isdigit() else None
    rows = selectors.messages(customer, box_id=box_id)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "voicemail/index.html",
        {
            "boxes": selectors.mailboxes(customer),
            "page": page,
            "box_id": box_id,
            "form": form,
            "option_on": option_enabled(customer.pk, Option.VOICEMAIL),
        },
        status=400 if request.method == "POST" else 200,
    )


@customer_page
def box(request, pk: int):
    customer = request.customer
    mailbox = get_object_or_404(
        Mailbox.objects.select_related("employee", "department"), pk=pk, customer=customer
    )
    form = MailboxForm(request.POST or None, instance=mailbox, customer=customer)
    if request.method == "POST" and form.is_valid():
        services.mailbox_save(
            customer=customer, box=form.save(commit=False), pin=form.cleaned_data.get("pin") or None
        )
        flash.success(request, _("Настройки ящика сохранены."))
        return redirect("voicemail:box", mailbox.pk)
    return render(
        request,
        "voicemail/box.html",
        {
            "box": mailbox,
            "form": form,
            "text_form": GreetingTextForm(
                initial={"text": mailbox.greeting_text} if mailbox.greeting_text else None
            ),
            "upload_form": GreetingUploadForm(),
        },
        status=400 if request.method == "POST" else 200,
    )


@customer_page
@require_POST
def greeting(request, pk: int):
    customer = request.customer
    mailbox = get_object_or_404(Mailbox, pk=pk, customer=customer)
    action = request.POST.get("action")
    try:
        if action == "generate":
            form = GreetingTextForm(request.POST)
            if not form.is_valid():
                raise services.VoicemailError(_("Напишите текст приветствия."))
            services.greeting_generate(
                customer=customer, box=mailbox, text=form.cleaned_data["text"]
            )
        elif action == "upload":
            form = GreetingUploadForm(request.POST, request.FILES)
            if not form.is_valid():
                raise services.VoicemailError(_("Выберите файл."))
            services.greeting_upload(
                customer=customer, box=mailbox, upload=form.cleaned_data["file"]
            )
        elif action == "reset":
            services.greeting_reset(customer=customer, box=mailbox)
        else:
            raise Http404("no such action")
    except (services.VoicemailError, ValidationError) as exc:
        flash.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
    except Exception as exc:  # the audio tools failed (espeak-ng/sox missing, bad file)
        if isinstance(exc, Http404):
            raise
        flash.error(request, _("Не удалось подготовить приветствие."))
    else:
        flash.success(request, _("Приветствие сохранено."))
    return redirect("voicemail:box", mailbox.pk)


@customer_page
@require_GET
def greeting_audio(request, pk: int):
    mailbox = get_object_or_404(Mailbox, pk=pk, customer=request.customer)
    path = selectors.greeting_path(mailbox)
    if not path:
        raise Http404("no greeting")
    try:
        return FileResponse(open(path, "rb"), content_type="audio/wav")
    except FileNotFoundError:
        raise Http404("no file")


@customer_page
@require_POST
def box_delete(request, pk: int):
    mailbox = get_object_or_404(Mailbox, pk=pk, customer=request.customer)
    services.mailbox_delete(customer=request.customer, box=mailbox)
    flash.success(request, _("Ящик удалён вместе с сообщениями."))
    return redirect("voicemail:index")


@customer_page
@require_GET
def message_audio(request, pk: int):
    message = get_object_or_404(Message, pk=pk, customer=request.customer)
    file = selectors.message_file(message)
    if file is None:
        raise Http404("no file")
    try:
        fh = open(file, "rb")
    except FileNotFoundError:
        raise Http404("no file")
    response = FileResponse(fh, content_type="audio/wav", filename=f"voicemail-{message.pk}.wav")
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response


@customer_page
@require_POST
def message_heard(request, pk: int):
    message = get_object_or_404(Message, pk=pk, customer=request.customer)
    services.message_mark_heard(
        customer=request.customer, message=message, heard=request.POST.get("heard") != "0"
    )
    return redirect("voicemail:index")


@customer_page
@require_POST
def message_delete(request, pk: int):
    message = get_object_or_404(Message, pk=pk, customer=request.customer)
    services.message_delete(customer=request.customer, message=message)
    flash.success(request, _("Сообщение удалено."))
    return redirect("voicemail:index")
