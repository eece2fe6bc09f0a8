"""The pages in each language: the browser's Accept-Language chooses, the person's own setting
(the settings page, User.language) wins over it, "like my browser" is the default; flash
messages, form errors and the error pages follow; the JavaScript catalogue is served from our
origin in the page's language; the JSON API stays English (docs/api.md)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import translation

from chatapp.i18n import catalog_version
from conversations.templatetags.chat import ago, number, stamp, unread_label, usage

pytestmark = pytest.mark.django_db

# One word of the thread page in each language: the composer's Send button.
SEND = {"en": "Send", "de": "Senden", "fr": "Envoyer", "es": "Enviar", "zh-hans": "发送"}


def browser(language: str | None = None, user=None) -> Client:
    client = Client(headers={"Accept-Language": language} if language else {})
    if user is not None:
        client.force_login(user)
    return client


def html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page)[1]


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "zh-hans"])
def test_the_thread_page_renders_in_each_language(language, alice, group, post):
    post(group, "hello")
    response = browser(language, alice).get(f"/c/{group.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert html_lang(page) == language
    assert response["Content-Language"] == language
    assert f"{SEND[language]}</button>" in page
    # The JavaScript catalogue of the same language, from our origin, before ui.js.
    assert f'<script src="/i18n/{language}.js?v={catalog_version()}" defer></script>' in page


def test_accept_language_chooses_the_language(alice, group):
    page = browser("de-DE,de;q=0.9,en;q=0.5", alice).get(f"/c/{group.pk}/").content.decode()
    assert 'placeholder="Nachricht schreiben …"' in page
    assert ">Aktionen<" in page and "Papierkorb" in page
    # Chinese as browsers ask for it (zh-CN) is Simplified Chinese.
    page = browser("zh-CN,zh;q=0.9", alice).get("/").content.decode()
    assert html_lang(page) == "zh-hans" and "新聊天" in page
    # A language we do not have: the next one asked for, else English.
    assert html_lang(browser("ja, fr;q=0.5").get("/accounts/login/").content.decode()) == "fr"
    assert html_lang(browser("ja").get("/accounts/login/").content.decode()) == "en"


def test_the_answer_varies_with_accept_language(alice):
    response = browser("fr", alice).get("/")
    assert "Accept-Language" in response["Vary"]


def test_the_persons_setting_wins_over_the_browser(alice, group):
    alice.language = "fr"
    alice.save()
    page = browser("de", alice).get(f"/c/{group.pk}/").content.decode()
    assert html_lang(page) == "fr" and "Envoyer</button>" in page
    # A code no longer offered is ignored: the browser's again.
    alice.language = "tlh"
    alice.save()
    assert html_lang(browser("de", alice).get("/").content.decode()) == "de"


def test_the_settings_page_sets_the_language_and_like_my_browser_is_the_default(alice):
    client = browser("es", alice)
    page = client.get("/settings/").content.decode()
    # Each language named in its own; the default option says what the browser asks for.
    assert '<option value="" selected>Como mi navegador (Español)</option>' in page
    assert '<option value="de" lang="de">Deutsch</option>' in page
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in page
    response = client.post("/settings/", {"language": "de"}, follow=True)
    alice.refresh_from_db()
    assert alice.language == "de"
    page = response.content.decode()
    assert html_lang(page) == "de" and "Sprache gespeichert." in page
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page
    # Back to the browser's.
    response = client.post("/settings/", {"language": ""}, follow=True)
    alice.refresh_from_db()
    assert alice.language == ""
    assert "Idioma guardado." in response.content.decode()
    # Not one of ours: refused, nothing saved.
    response = client.post("/settings/", {"language": "xx"})
    alice.refresh_from_db()
    assert response.status_code == 200 and alice.language == ""


def test_flash_messages_and_form_errors_are_translated(alice, group):
    client = browser("de", alice)
    response = client.post(f"/c/{group.pk}/act", {"action": "archive"}, follow=True)
    assert "Archiviert: Du findest sie in der Seitenleiste unter „Archiviert“." in (
        response.content.decode()
    )
    # A service's refusal, and Django's own form errors.
    response = client.post(f"/c/{group.pk}/post", {"content": "   "}, follow=True)
    assert "Eine Nachricht darf nicht leer sein." in response.content.decode()
    page = browser("fr").post("/accounts/register/", {"username": "x"}).content.decode()
    assert "Ce champ est obligatoire." in page
    form = {"username": "x!", "email": "x@example.com", "password": "Correct-horse-9"}
    page = browser("fr").post("/accounts/register/", form).content.decode()
    assert "Un nom d\u2019utilisateur compte 3 à 50 lettres, chiffres ou tirets bas." in page


def test_error_pages_are_translated(alice):
    response = browser("es", alice).get("/c/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert "No encontrado" in response.content.decode()


def test_the_api_answers_in_english_whatever_the_browser_asks(alice, group):
    client = browser("de", alice)
    response = client.post(
        f"/api/v1/conversations/{group.pk}/messages", {"content": "   "}, "application/json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "A message cannot be empty."
    assert "Content-Language" not in response


def test_the_javascript_catalogue_is_served_per_language():
    response = Client().get(f"/i18n/fr.js?v={catalog_version()}")
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "immutable" in response["Cache-Control"]
    assert '"Cancel": "Annuler"' in body and "django.gettext" in body
    # Only ours: not the admin's calendar words.
    assert "January" not in body
    # Another version (an old page): not kept for a year.
    assert Client().get("/i18n/fr.js?v=old")["Cache-Control"] == "no-cache"
    assert Client().get("/i18n/xx.js").status_code == 404
    english = Client().get("/i18n/en.js").content.decode()
    assert "django.gettext" in english


# --- times and numbers ----------------------------------------------------------------------

MOMENT = datetime(2026, 11, 2, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "date", "exact", "big"),
    [
        ("en", "2026-11-02", "2026-11-02 03:04 UTC", "1,234,567"),
        ("de", "02.11.2026", "02.11.2026 03:04 UTC", "1.234.567"),
        ("fr", "02/11/2026", "02/11/2026 03:04 UTC", "1\xa0234\xa0567"),
        ("es", "02/11/2026", "02/11/2026 03:04 UTC", "1\xa0234\xa0567"),
        ("zh-hans", "2026年11月2日", "2026年11月2日 03:04 UTC", "1234567"),
    ],
)
def test_dates_and_numbers_follow_the_language(language, date, exact, big):
    with translation.override(language):
        assert ago(MOMENT) == date
        assert stamp(MOMENT) == exact
        assert number(1234567) == big
        assert number(999) == "999"


@pytest.mark.parametrize(
    ("language", "minutes", "hours", "days", "unread"),
    [
        ("en", "5 min ago", "3 h ago", "2 d ago", "3 unread"),
        ("de", "vor 5 Min.", "vor 3 Std.", "vor 2 Tagen", "3 ungelesen"),
        ("fr", "il y a 5 min", "il y a 3 h", "il y a 2 j", "3 non lus"),
        ("es", "hace 5 min", "hace 3 h", "hace 2 d", "3 sin leer"),
        ("zh-hans", "5 分钟前", "3 小时前", "2 天前", "3 条未读"),
    ],
)
def test_how_long_ago_follows_the_language(language, minutes, hours, days, unread):
    now = datetime.now(UTC)
    with translation.override(language):
        assert ago(now - timedelta(minutes=5, seconds=3)) == minutes
        assert ago(now - timedelta(hours=3, minutes=1)) == hours
        assert ago(now - timedelta(days=2, hours=1)) == days
        assert unread_label(3) == unread
    with translation.override("de"):
        assert ago(now - timedelta(days=1, hours=1)) == "vor 1 Tag"


def test_an_assistant_rows_usage_is_localised():
    class Turn:
        model = "gpt-test"
        total_tokens, prompt_tokens, completion_tokens, latency_ms = 13000, 12000, 1000, 1250

    with translation.override("de"):
        assert usage(Turn()) == "gpt-test · Tokens: 12.000 ein / 1.000 aus · 1.250 ms"
    assert usage(Turn()) == "gpt-test · 12,000 in / 1,000 out tokens · 1,250 ms"


def test_the_thread_shows_localised_counts_and_times(alice, group, post):
    message = post(group, "hello")
    page = browser("de", alice).get(f"/c/{group.pk}/").content.decode()
    assert ">1 Nachricht</span>" in page
    assert "gerade eben</time>" in page
    with translation.override("de"):
        assert f'title="{stamp(message.created_at)}"' in page
