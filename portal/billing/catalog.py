"""The default catalog: tariffs and options a fresh installation starts with.

Prices are the platform operator's to change (admin); the demo customer's figures (seed 001)
are computed from these rows.
"""

from __future__ import annotations

from decimal import Decimal

TARIFFS = [
    {
        "name": "Базовый",
        "outgoing_minute_price": Decimal("2.00"),
        "monthly_fee": Decimal("700"),
        "employees_included": 3,
        "multichannel_numbers_included": 1,
        "regular_numbers_included": 1,
        "recording_storage_gb": 1,
        "extra_employee_price": Decimal("120"),
        "extra_multichannel_number_price": Decimal("300"),
        "extra_number_price": Decimal("150"),
        "storage_package_gb": 5,
        "storage_package_price": Decimal("150"),
    },
    {
        "name": "Средний",
        "outgoing_minute_price": Decimal("1.50"),
        "monthly_fee": Decimal("1300"),
        "employees_included": 10,
        "multichannel_numbers_included": 1,
        "regular_numbers_included": 1,
        "recording_storage_gb": 5,
        "extra_employee_price": Decimal("100"),
        "extra_multichannel_number_price": Decimal("270.30"),
        "extra_number_price": Decimal("150"),
        "storage_package_gb": 5,
        "storage_package_price": Decimal("150"),
    },
    {
        "name": "Максимальный",
        "outgoing_minute_price": Decimal("1.20"),
        "monthly_fee": Decimal("3500"),
        "employees_included": 50,
        "multichannel_numbers_included": 3,
        "regular_numbers_included": 5,
        "recording_storage_gb": 50,
        "extra_employee_price": Decimal("80"),
        "extra_multichannel_number_price": Decimal("250"),
        "extra_number_price": Decimal("120"),
        "storage_package_gb": 10,
        "storage_package_price": Decimal("250"),
    },
]

# (code, name_ru, name_en, monthly price, description_ru, description_en)
OPTIONS = [
    (
        "callback",
        "Обратный вызов",
        "Callback",
        "150",
        "Абонент в очереди может нажать 1 и заказать обратный звонок.",
        "A caller waiting in the queue can press 1 to be called back.",
    ),
    (
        "caller_id",
        "АОН",
        "Caller ID",
        "50",
        "При обратном вызове абонент видит многоканальный номер.",
        "Callbacks show the multichannel number.",
    ),
    (
        "auto_redial",
        "Автодозвон",
        "Auto-redial",
        "120",
        "Соединим, когда занятый абонент освободится.",
        "Connects the caller when a busy subscriber becomes free.",
    ),
    (
        "call_recording",
        "Запись разговоров",
        "Call recording",
        "100",
        "Все разговоры записываются и хранятся в портале.",
        "Every call is recorded and kept in the portal.",
    ),
    (
        "fictive_numbers",
        "Фиктивные номера",
        "Fictive numbers",
        "90",
        "Звонки через номер доступа с подменой номера и записью.",
        "Masked calls through an access number, recorded.",
    ),
    (
        "integrated_number",
        "Интегрированный номер",
        "Integrated number",
        "60",
        "Чат, фото и геопозиция звонящего во время звонка.",
        "Chat, photos and the caller's location during the call.",
    ),
    (
        "video_assistant",
        "Видеоассистент",
        "Video assistant",
        "80",
        "Видеозвонок по ссылке с пометками на изображении.",
        "Video call from a link, with annotations.",
    ),
    (
        "ivr",
        "Голосовое меню",
        "Voice menu (IVR)",
        "70",
        "Приветствие и выбор клавишами: отдел, сотрудник, вложенное меню; рабочие часы.",
        "Greeting and choice by keys: department, employee, submenu; working hours.",
    ),
    (
        "voicemail",
        "Голосовая почта",
        "Voicemail",
        "40",
        "Ящик у сотрудника или отдела: если никто не ответил, звонящий оставляет сообщение. "
        "Сообщения в портале и по e-mail, прослушивание с телефона по *97 и PIN.",
        "A box per employee or department: when nobody answers, the caller leaves a message. "
        "Messages in the portal and by e-mail, and from a phone with *97 and a PIN.",
    ),
    (
        "call_forwarding",
        "Переадресация",
        "Call forwarding",
        "30",
        "Звонки сотруднику — всегда, если занято, не ответил или не в сети — уходят другому "
        "сотруднику или на внешний номер (исходящий звонок по вашей политике звонков).",
        "An employee's calls — always, when busy, not answered or offline — go to another "
        "employee or to an outside number (an outgoing call under your call policy).",
    ),
    (
        "blacklist",
        "Чёрный список",
        "Blacklist",
        "20",
        "Входящие звонки с номеров и префиксов из вашего списка отклоняются (занято или "
        "сообщение), отклонённые звонки видны в журнале.",
        "Incoming calls from the numbers and prefixes on your list are rejected (busy or a "
        "message); rejected calls are shown in a log.",
    ),
    (
        "moh",
        "Своя музыка ожидания",
        "Custom hold music",
        "80",
        "Ваша музыка вместо стандартной для звонящих на ваши номера: в очереди и на удержании; "
        "для каждого отдела своя, если нужно.",
        "Your own music instead of the stock one for people calling your numbers: while they wait "
        "in a queue and while on hold; one per department if you like.",
    ),
    (
        "conference",
        "Конференц-связь",
        "Conference calls",
        "60",
        "Комнаты конференций по добавочному или номеру, с PIN-кодом, лимитом участников и "
        "записью (при включённой записи разговоров); в портале видно, кто в комнате, можно "
        "выключить участнику микрофон или отключить его.",
        "Conference rooms reached by an extension or a number, with a PIN, a member limit and "
        "recording (when call recording is on); the portal shows who is in a room and can mute "
        "or remove a member.",
    ),
    (
        "crm",
        "Интеграция с CRM",
        "CRM integration",
        "100",
        "Карточка звонящего (номер, имя, история звонков и заметки) у ответившего сотрудника "
        "и подписанные события звонка на ваш веб-хук.",
        "A caller card (number, name, call history and notes) for the answering employee, "
        "and signed call events sent to your webhook.",
    ),
]


def load(tariff_model, option_model) -> None:
    """Create or update the default catalog rows (used by the data migration and `ensure`)."""
    # Migrations pass historical models: give each only the fields it has at that point.
    fields = {field.name for field in tariff_model._meta.get_fields()}
    for row in TARIFFS:
        defaults = {key: value for key, value in row.items() if key in fields}
        tariff_model.objects.update_or_create(name=row["name"], defaults=defaults)
    for order, (code, name_ru, name_en, price, desc_ru, desc_en) in enumerate(OPTIONS):
        option_model.objects.update_or_create(
            code=code,
            defaults={
                "name_ru": name_ru,
                "name_en": name_en,
                "monthly_price": Decimal(price),
                "description_ru": desc_ru,
                "description_en": desc_en,
                "sort_order": (order + 1) * 10,
            },
        )


def ensure() -> None:
    """Load the default catalog if it is missing (e.g. after a test flushed the tables)."""
    from portal.billing.models import Option, Tariff

    if not Tariff.objects.exists():
        load(Tariff, Option)
