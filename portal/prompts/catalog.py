"""The product's voice prompts: stable keys, what each is for, and its text in every language.

Flows refer to prompts only by these keys (see `portal.prompts.selectors.prompt_path`); the
texts are what `manage.py prompts_generate` speaks with espeak-ng. A key never changes meaning:
add a new key instead, because customers upload their own recordings per key.

Numbers and lists are read from the `digit_0` .. `digit_9`, `word_id` and `word_number` prompts
(`selectors.digit_paths`), not from FreeSWITCH's say modules: mod_say has no Czech, Kazakh or
Bulgarian and needs the FreeSWITCH sound packs, which a customer cannot re-record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

# Order matters: the first language is the fallback of every lookup.
LANGUAGES: dict[str, str] = {
    "ru": "Русский",
    "en": "English",
    "cs": "Čeština",
    "kk": "Қазақша",
    "bg": "Български",
}
FALLBACK_LANGUAGE = "ru"
# espeak-ng voice per language (`espeak-ng --voices` lists them; Debian's espeak-ng-data has all).
ESPEAK_VOICES: dict[str, str] = {"ru": "ru", "en": "en-gb", "cs": "cs", "kk": "kk", "bg": "bg"}
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,47}\Z")


class UnknownPrompt(LookupError):
    """A key that is not in the catalog (a typo in a flow, or a key that was never shipped)."""

    def __init__(self, key: object):
        super().__init__(f"unknown voice prompt key {key!r}; known keys: {', '.join(PROMPTS)}")
        self.key = key


@dataclass(frozen=True)
class Prompt:
    key: str
    group: Promise
    purpose: Promise
    texts: dict[str, str]

    def text(self, language: str) -> str:
        return self.texts.get(language) or self.texts[FALLBACK_LANGUAGE]


COMMON = _("Общие")
CALLBACK = _("Обратный вызов")
FICTIVE = _("Фиктивные номера")
REDIAL = _("Автодозвон")
NUMBERS = _("Чтение номеров")
OUTBOUND = _("Исходящие звонки")
MENUS = _("Голосовое меню")
VOICEMAIL = _("Голосовая почта")

_DEFS: list[tuple[str, Promise, Promise, dict[str, str]]] = [
    # --- shared ---------------------------------------------------------------------------
    (
        "service_unavailable",
        COMMON,
        _("Услуга сейчас недоступна"),
        {
            "ru": "Извините, услуга сейчас недоступна. Пожалуйста, позвоните позже.",
            "en": "Sorry, this service is not available right now. Please call again later.",
            "cs": "Omlouváme se, služba je momentálně nedostupná. Zavolejte prosím později.",
            "kk": "Кешіріңіз, қызмет қазір қолжетімсіз. Кейінірек қоңырау шалыңыз.",
            "bg": "Съжаляваме, услугата в момента не е достъпна. Моля, обадете се по-късно.",
        },
    ),
    (
        "invalid_input",
        COMMON,
        _("Неверный ввод, повторите"),
        {
            "ru": "Неверный ввод. Попробуйте ещё раз.",
            "en": "Invalid entry. Please try again.",
            "cs": "Neplatná volba. Zkuste to prosím znovu.",
            "kk": "Қате енгізу. Қайталап көріңіз.",
            "bg": "Невалиден избор. Моля, опитайте отново.",
        },
    ),
    (
        "connecting",
        COMMON,
        _("Соединяем"),
        {
            "ru": "Соединяем.",
            "en": "Connecting.",
            "cs": "Spojujeme.",
            "kk": "Қосамыз.",
            "bg": "Свързваме ви.",
        },
    ),
    (
        "goodbye",
        COMMON,
        _("Прощание перед отбоем"),
        {
            "ru": "Спасибо за звонок. До свидания.",
            "en": "Thank you for calling. Goodbye.",
            "cs": "Děkujeme za zavolání. Na shledanou.",
            "kk": "Қоңырауыңызға рақмет. Сау болыңыз.",
            "bg": "Благодарим ви за обаждането. Довиждане.",
        },
    ),
    # --- queue callback (seed 001) --------------------------------------------------------
    (
        "callback_offer",
        CALLBACK,
        _("Предложение в очереди: нажмите 1"),
        {
            "ru": "Если вы хотите, чтобы мы вам перезвонили при первой возможности, нажмите 1.",
            "en": "If you would like us to call you back as soon as possible, press 1.",
            "cs": "Pokud chcete, abychom vám zavolali zpět při první příležitosti, stiskněte 1.",
            "kk": "Сізге мүмкіндігінше тезірек қайта қоңырау шалуымызды қаласаңыз, 1 батырмасын басыңыз.",
            "bg": "Ако желаете да ви се обадим при първа възможност, натиснете 1.",
        },
    ),
    (
        "callback_confirmed",
        CALLBACK,
        _("Заявка принята"),
        {
            "ru": "Спасибо, мы перезвоним вам в ближайшее время.",
            "en": "Thank you, we will call you back shortly.",
            "cs": "Děkujeme, zavoláme vám zpět co nejdříve.",
            "kk": "Рақмет, біз сізге жақын арада қайта қоңырау шаламыз.",
            "bg": "Благодарим ви, ще ви се обадим възможно най-скоро.",
        },
    ),
    (
        "callback_already_requested",
        CALLBACK,
        _("Заявка уже есть"),
        {
            "ru": "Ваша заявка на обратный звонок уже принята. Мы перезвоним вам в ближайшее время.",
            "en": "Your callback request has already been received. We will call you back shortly.",
            "cs": "Vaši žádost o zpětné volání už evidujeme. Zavoláme vám co nejdříve.",
            "kk": "Сіздің кері қоңырау өтінішіңіз қабылданған. Біз сізге жақын арада қоңырау шаламыз.",
            "bg": "Заявката ви за обратно обаждане вече е приета. Ще ви се обадим възможно най-скоро.",
        },
    ),
    (
        "callback_connecting",
        CALLBACK,
        _("Звонящему при обратном вызове"),
        {
            "ru": "Вам перезванивает компания, соединяем с сотрудником.",
            "en": "The company is calling you back. Connecting you to an agent.",
            "cs": "Volá vám zpět společnost, spojujeme vás s pracovníkem.",
            "kk": "Сізге компания қайта қоңырау шалып тұр, қызметкермен қосамыз.",
            "bg": "Обаждаме ви се обратно от компанията, свързваме ви със служител.",
        },
    ),
    (
        "callback_whisper",
        CALLBACK,
        _("Сотруднику перед обратным вызовом (затем номер абонента)"),
        {
            "ru": "Обратный вызов по заявке из очереди. Звоним абоненту",
            "en": "Queue callback. Calling the customer at",
            "cs": "Zpětné volání z fronty. Voláme zákazníkovi na číslo",
            "kk": "Кезектегі өтінім бойынша қайта қоңырау. Абонентке қоңырау шаламыз",
            "bg": "Обратно обаждане по заявка от опашката. Звъним на клиента",
        },
    ),
    # --- fictive numbers (seed 002) -------------------------------------------------------
    (
        "fictive_unknown_caller",
        FICTIVE,
        _("Номер звонящего не зарегистрирован"),
        {
            "ru": "Ваш номер не зарегистрирован в системе. Звонок будет завершён.",
            "en": "Your number is not registered with this service. The call will now end.",
            "cs": "Vaše číslo není v systému registrováno. Hovor bude ukončen.",
            "kk": "Сіздің нөміріңіз жүйеде тіркелмеген. Қоңырау аяқталады.",
            "bg": "Вашият номер не е регистриран в системата. Разговорът ще бъде прекратен.",
        },
    ),
    (
        "fictive_enter_destination",
        FICTIVE,
        _("Введите номер назначения"),
        {
            "ru": "Введите номер, на который хотите позвонить, и нажмите решётку.",
            "en": "Enter the number you want to call, followed by the hash key.",
            "cs": "Zadejte číslo, kam chcete volat, a stiskněte mřížku.",
            "kk": "Қоңырау шалғыңыз келетін нөмірді теріп, тор белгісін басыңыз.",
            "bg": "Въведете номера, на който искате да се обадите, и натиснете диез.",
        },
    ),
    (
        "fictive_enter_id",
        FICTIVE,
        _("Введите ID фиктивного номера (0# — список)"),
        {
            "ru": "Введите идентификатор фиктивного номера и нажмите решётку. "
            "Чтобы прослушать список ваших номеров, нажмите ноль и решётку.",
            "en": "Enter the ID of the fictive number, followed by the hash key. "
            "To hear the list of your numbers, press zero and the hash key.",
            "cs": "Zadejte identifikátor fiktivního čísla a stiskněte mřížku. "
            "Seznam vašich čísel uslyšíte po stisknutí nuly a mřížky.",
            "kk": "Фиктивті нөмірдің идентификаторын теріп, тор белгісін басыңыз. "
            "Нөмірлеріңіздің тізімін тыңдау үшін нөлді және тор белгісін басыңыз.",
            "bg": "Въведете идентификатора на фиктивния номер и натиснете диез. "
            "За да чуете списъка с вашите номера, натиснете нула и диез.",
        },
    ),
    (
        "fictive_list_intro",
        FICTIVE,
        _("Перед списком фиктивных номеров"),
        {
            "ru": "Ваши фиктивные номера.",
            "en": "Your fictive numbers.",
            "cs": "Vaše fiktivní čísla.",
            "kk": "Сіздің фиктивті нөмірлеріңіз.",
            "bg": "Вашите фиктивни номера.",
        },
    ),
    (
        "fictive_unknown_id",
        FICTIVE,
        _("Нет номера с таким ID"),
        {
            "ru": "Номер с таким идентификатором не найден.",
            "en": "There is no number with that ID.",
            "cs": "Číslo s tímto identifikátorem neexistuje.",
            "kk": "Мұндай идентификаторы бар нөмір табылмады.",
            "bg": "Няма номер с такъв идентификатор.",
        },
    ),
    (
        "fictive_bad_destination",
        FICTIVE,
        _("На этот номер звонить нельзя"),
        {
            "ru": "На этот номер позвонить нельзя. Проверьте номер и попробуйте ещё раз.",
            "en": "This number cannot be called. Please check the number and try again.",
            "cs": "Na toto číslo nelze volat. Zkontrolujte číslo a zkuste to znovu.",
            "kk": "Бұл нөмірге қоңырау шалуға болмайды. Нөмірді тексеріп, қайталап көріңіз.",
            "bg": "Не може да се обадите на този номер. Проверете номера и опитайте отново.",
        },
    ),
    (
        "fictive_pending_call",
        FICTIVE,
        _("Есть пропущенный вызов, соединяем"),
        {
            "ru": "У вас есть пропущенный вызов. Соединяем с абонентом.",
            "en": "You have a missed call. Connecting you to the caller.",
            "cs": "Máte zmeškaný hovor. Spojujeme vás s volajícím.",
            "kk": "Сізде қабылданбаған қоңырау бар. Абонентпен қосамыз.",
            "bg": "Имате пропуснато обаждане. Свързваме ви с обаждащия се.",
        },
    ),
    (
        "fictive_enter_sequence",
        FICTIVE,
        _("Несколько пропущенных: введите номер из SMS"),
        {
            "ru": "У вас несколько пропущенных вызовов. "
            "Введите порядковый номер вызова из эс эм эс и нажмите решётку.",
            "en": "You have several missed calls. "
            "Enter the sequence number from the text message, followed by the hash key.",
            "cs": "Máte několik zmeškaných hovorů. "
            "Zadejte pořadové číslo hovoru z esemesky a stiskněte mřížku.",
            "kk": "Сізде бірнеше қабылданбаған қоңырау бар. "
            "Хабарламадағы қоңыраудың реттік нөмірін теріп, тор белгісін басыңыз.",
            "bg": "Имате няколко пропуснати обаждания. "
            "Въведете поредния номер на обаждането от съобщението и натиснете диез.",
        },
    ),
    (
        "fictive_no_pending",
        FICTIVE,
        _("Пропущенных вызовов нет"),
        {
            "ru": "У вас нет пропущенных вызовов. До свидания.",
            "en": "You have no missed calls. Goodbye.",
            "cs": "Nemáte žádné zmeškané hovory. Na shledanou.",
            "kk": "Сізде қабылданбаған қоңыраулар жоқ. Сау болыңыз.",
            "bg": "Нямате пропуснати обаждания. Довиждане.",
        },
    ),
    # --- auto-redial (seed 003) -----------------------------------------------------------
    (
        "redial_offer",
        REDIAL,
        _("Абонент занят: нажмите 1 для автодозвона"),
        {
            "ru": "Абонент занят или недоступен. Если вы хотите, чтобы мы соединили вас, "
            "когда абонент станет доступен, нажмите 1.",
            "en": "The subscriber is busy or unavailable. "
            "To be connected when the subscriber is available, press 1.",
            "cs": "Účastník je obsazený nebo nedostupný. Pokud chcete, abychom vás spojili, "
            "až bude účastník dostupný, stiskněte 1.",
            "kk": "Абонент бос емес немесе қолжетімсіз. Абонент қолжетімді болғанда сізді "
            "қосуымызды қаласаңыз, 1 батырмасын басыңыз.",
            "bg": "Абонатът е зает или недостъпен. Ако желаете да ви свържем, "
            "когато абонатът стане достъпен, натиснете 1.",
        },
    ),
    (
        "redial_accepted",
        REDIAL,
        _("Автодозвон принят"),
        {
            "ru": "Спасибо. Мы позвоним вам, как только абонент станет доступен, и соединим вас.",
            "en": "Thank you. We will call you and connect you as soon as the subscriber is available.",
            "cs": "Děkujeme. Jakmile bude účastník dostupný, zavoláme vám a spojíme vás.",
            "kk": "Рақмет. Абонент қолжетімді болған кезде біз сізге қоңырау шалып, қосамыз.",
            "bg": "Благодарим ви. Щом абонатът стане достъпен, ще ви се обадим и ще ви свържем.",
        },
    ),
    (
        "redial_connecting",
        REDIAL,
        _("Абонент доступен, соединяем"),
        {
            "ru": "Абонент, которому вы звонили, теперь доступен. Соединяем.",
            "en": "The subscriber you called is now available. Connecting.",
            "cs": "Účastník, kterému jste volali, je nyní dostupný. Spojujeme.",
            "kk": "Сіз қоңырау шалған абонент қазір қолжетімді. Қосамыз.",
            "bg": "Абонатът, на когото се обадихте, вече е достъпен. Свързваме ви.",
        },
    ),
    # --- outbound call policy (toll-fraud protection) -------------------------------------
    (
        "call_barred",
        OUTBOUND,
        _("Направление закрыто для исходящих звонков"),
        {
            "ru": "Звонки на этот номер запрещены настройками вашей АТС.",
            "en": "Calls to this number are not allowed by your phone system settings.",
            "cs": "Hovory na toto číslo nastavení vaší ústředny nepovoluje.",
            "kk": "Бұл нөмірге қоңырау шалуға АТС баптаулары рұқсат бермейді.",
            "bg": "Обажданията към този номер не са разрешени от настройките на централата.",
        },
    ),
    (
        "call_limit_reached",
        OUTBOUND,
        _("Превышен лимит одновременных исходящих звонков"),
        {
            "ru": "Слишком много исходящих звонков одновременно. Попробуйте позже.",
            "en": "Too many outgoing calls at once. Please try again later.",
            "cs": "Příliš mnoho odchozích hovorů najednou. Zkuste to prosím později.",
            "kk": "Бір уақытта тым көп шығыс қоңырау. Кейінірек қайталаңыз.",
            "bg": "Твърде много изходящи обаждания едновременно. Опитайте по-късно.",
        },
    ),
    (
        "spend_cap_reached",
        OUTBOUND,
        _("Достигнут дневной лимит расходов на звонки"),
        {
            "ru": "Дневной лимит расходов на звонки исчерпан. Платные звонки недоступны до конца дня.",
            "en": "The daily spending limit for calls has been reached. Paid calls are unavailable until the end of the day.",
            "cs": "Denní limit výdajů za hovory je vyčerpán. Placené hovory nejsou do konce dne k dispozici.",
            "kk": "Қоңырауларға арналған күндік шығын лимиті таусылды. Ақылы қоңыраулар күн соңына дейін қолжетімсіз.",
            "bg": "Дневният лимит за разходи за обаждания е изчерпан. Платените обаждания не са достъпни до края на деня.",
        },
    ),
    (
        "balance_too_low",
        OUTBOUND,
        _("Недостаточно средств для платного звонка"),
        {
            "ru": "На балансе недостаточно средств. Пополните баланс, чтобы звонить на этот номер.",
            "en": "Your balance is too low. Please top up your balance to call this number.",
            "cs": "Na účtu nemáte dostatek prostředků. Pro volání na toto číslo si dobijte kredit.",
            "kk": "Балансыңызда қаражат жеткіліксіз. Бұл нөмірге қоңырау шалу үшін балансты толтырыңыз.",
            "bg": "Нямате достатъчно средства. Заредете баланса си, за да се обадите на този номер.",
        },
    ),
    # --- voice menus (portal/menus) -------------------------------------------------------
    (
        "menu_default_greeting",
        MENUS,
        _("Меню без своего приветствия"),
        {
            "ru": "Выберите нужный пункт меню.",
            "en": "Please choose an option.",
            "cs": "Vyberte prosím možnost.",
            "kk": "Қажетті мәзір тармағын таңдаңыз.",
            "bg": "Моля, изберете опция.",
        },
    ),
    (
        "menu_no_input",
        MENUS,
        _("В меню ничего не нажато"),
        {
            "ru": "Вы ничего не выбрали.",
            "en": "You did not choose anything.",
            "cs": "Nic jste nevybrali.",
            "kk": "Сіз ештеңе таңдамадыңыз.",
            "bg": "Не избрахте нищо.",
        },
    ),
    (
        "menu_closed",
        MENUS,
        _("Нерабочее время"),
        {
            "ru": "Сейчас нерабочее время. Пожалуйста, позвоните в рабочие часы.",
            "en": "We are closed now. Please call during our working hours.",
            "cs": "Nyní máme zavřeno. Zavolejte prosím v pracovní době.",
            "kk": "Қазір жұмыс уақыты емес. Жұмыс уақытында қоңырау шалыңыз.",
            "bg": "В момента не работим. Моля, обадете се в работно време.",
        },
    ),
    (
        "callback_scheduled",
        MENUS,
        _("Обратный звонок перенесён на открытие (затем время цифрами)"),
        {
            "ru": "Сейчас нерабочее время. Мы перезвоним вам, когда откроемся, в",
            "en": "We are closed now. We will call you back when we open, at",
            "cs": "Nyní máme zavřeno. Zavoláme vám zpět, až otevřeme, v",
            "kk": "Қазір жұмыс уақыты емес. Ашылғанда сізге қоңырау шаламыз, сағат",
            "bg": "В момента не работим. Ще ви се обадим, когато отворим, в",
        },
    ),
    # --- voicemail (portal/voicemail): access from a phone, *97 ---------------------------
    (
        "voicemail_enter_pin",
        VOICEMAIL,
        _("Ввод PIN голосовой почты"),
        {
            "ru": "Голосовая почта. Введите PIN и нажмите решётку.",
            "en": "Voicemail. Enter your PIN and press the hash key.",
            "cs": "Hlasová schránka. Zadejte PIN a stiskněte mřížku.",
            "kk": "Дауыстық пошта. PIN кодты енгізіп, тор белгісін басыңыз.",
            "bg": "Гласова поща. Въведете ПИН и натиснете диез.",
        },
    ),
    (
        "voicemail_wrong_pin",
        VOICEMAIL,
        _("Неверный PIN голосовой почты"),
        {
            "ru": "Неверный PIN.",
            "en": "Wrong PIN.",
            "cs": "Nesprávný PIN.",
            "kk": "PIN код қате.",
            "bg": "Грешен ПИН.",
        },
    ),
    (
        "voicemail_new_messages",
        VOICEMAIL,
        _("Число новых сообщений (затем число цифрами)"),
        {
            "ru": "Новых сообщений:",
            "en": "New messages:",
            "cs": "Nové zprávy:",
            "kk": "Жаңа хабарлар саны:",
            "bg": "Нови съобщения:",
        },
    ),
    (
        "voicemail_no_messages",
        VOICEMAIL,
        _("В ящике нет сообщений"),
        {
            "ru": "Сообщений нет.",
            "en": "You have no messages.",
            "cs": "Nemáte žádné zprávy.",
            "kk": "Хабарлар жоқ.",
            "bg": "Нямате съобщения.",
        },
    ),
    (
        "voicemail_message_menu",
        VOICEMAIL,
        _("Меню после сообщения"),
        {
            "ru": "Чтобы прослушать ещё раз, нажмите 1. Чтобы удалить, нажмите 7. Следующее сообщение — 9.",
            "en": "To listen again, press 1. To delete, press 7. For the next message, press 9.",
            "cs": "Pro opakování stiskněte 1. Pro smazání stiskněte 7. Další zpráva: 9.",
            "kk": "Қайта тыңдау үшін 1-ді басыңыз. Жою үшін 7-ні басыңыз. Келесі хабар үшін 9-ды басыңыз.",
            "bg": "За да чуете отново, натиснете 1. За изтриване натиснете 7. За следващото съобщение натиснете 9.",
        },
    ),
    (
        "voicemail_deleted",
        VOICEMAIL,
        _("Сообщение удалено"),
        {
            "ru": "Сообщение удалено.",
            "en": "Message deleted.",
            "cs": "Zpráva byla smazána.",
            "kk": "Хабар жойылды.",
            "bg": "Съобщението е изтрито.",
        },
    ),
    (
        "voicemail_no_box",
        VOICEMAIL,
        _("У телефона нет ящика голосовой почты"),
        {
            "ru": "Голосовая почта для этого телефона не настроена.",
            "en": "Voicemail is not set up for this phone.",
            "cs": "Hlasová schránka pro tento telefon není nastavena.",
            "kk": "Бұл телефон үшін дауыстық пошта бапталмаған.",
            "bg": "Гласовата поща за този телефон не е настроена.",
        },
    ),
    # --- reading numbers and lists --------------------------------------------------------
    (
        "word_id",
        NUMBERS,
        _("Слово «идентификатор» (в списке)"),
        {
            "ru": "Идентификатор",
            "en": "ID",
            "cs": "Identifikátor",
            "kk": "Идентификатор",
            "bg": "Идентификатор",
        },
    ),
    (
        "word_number",
        NUMBERS,
        _("Слово «номер» (в списке)"),
        {"ru": "номер", "en": "number", "cs": "číslo", "kk": "нөмір", "bg": "номер"},
    ),
]

_DIGIT_WORDS = {
    "ru": "ноль один два три четыре пять шесть семь восемь девять",
    "en": "zero one two three four five six seven eight nine",
    "cs": "nula jedna dva tři čtyři pět šest sedm osm devět",
    "kk": "нөл бір екі үш төрт бес алты жеті сегіз тоғыз",
    "bg": "нула едно две три четири пет шест седем осем девет",
}
for _digit in range(10):
    _DEFS.append(
        (
            f"digit_{_digit}",
            NUMBERS,
            format_lazy("{} {}", _("Цифра"), _digit),
            {lang: words.split()[_digit] for lang, words in _DIGIT_WORDS.items()},
        )
    )

PROMPTS: dict[str, Prompt] = {
    key: Prompt(key=key, group=group, purpose=purpose, texts=texts)
    for key, group, purpose, texts in _DEFS
}


def get(key: object) -> Prompt:
    """The catalog entry for `key`; `UnknownPrompt` for anything else (including non-strings)."""
    if not isinstance(key, str) or key not in PROMPTS:
        raise UnknownPrompt(key)
    return PROMPTS[key]


def is_language(language: object) -> bool:
    return isinstance(language, str) and language in LANGUAGES
