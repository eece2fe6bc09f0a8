"""The UI in French, in Chromium: the server's words and the JavaScript's (from the catalogue
at /i18n/fr.js), the person's setting over the browser's, and English when the catalogue
cannot be had."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, make_users


@pytest.fixture(scope="module")
def conversation(database) -> str:
    """Camille's group conversation with Dominique, holding one message of Camille's (with
    a code block, which ui.js gives a Copy button)."""
    make_users(database, "camille", "dominique", team="equipe")
    return database.shell(
        "from chatapp.accounts.models import User\n"
        "from conversations import services\n"
        "from conversations.models import Workspace\n"
        "camille = User.objects.get(username='camille')\n"
        "dominique = User.objects.get(username='dominique')\n"
        "conversation, _ = services.conversation_create(creator=camille, kind='group', "
        "title='Projet', workspace=Workspace.objects.get(slug='equipe'), "
        "participants=[dominique])\n"
        "services.message_post(conversation=conversation, sender=camille, "
        "content='Bonjour\\n\\n```python\\nprint(1)\\n```')\n"
        "print(conversation.pk)"
    )


def sign_in_in_french(page, username: str) -> None:
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("Nom d’utilisateur ou e-mail").fill(username)  # noqa: RUF001
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Se connecter").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def french_thread(open_page, conversation):
    """Camille's thread, in a French browser, signed in."""
    page = open_page(locale="fr-FR")
    sign_in_in_french(page, "camille")
    page.goto(f"/c/{conversation}/")
    # The server's words.
    expect(page.get_by_role("button", name="Envoyer")).to_be_visible()
    return page


def delete_dialog(page):
    """The confirmation dialog of the first message's Delete (ui.js)."""
    row = page.locator(".message").first
    row.hover()
    row.get_by_role("button", name="Supprimer le message").click()
    return page.get_by_role("dialog")


def test_the_thread_in_french_has_french_words_from_the_javascript_too(open_page, conversation):
    page = french_thread(open_page, conversation)
    # Written by ui.js and app.js, from the catalogue: the theme button's name, and the
    # confirmation dialog's Cancel (its question and act come from the page).
    expect(page.locator("[data-theme-toggle]")).to_have_attribute(
        "aria-label", "Passer au thème sombre"
    )
    row = page.locator(".message").first
    dialog = delete_dialog(page)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Supprimer ce message\u202f?")
    expect(dialog.get_by_role("button", name="Annuler")).to_be_focused()
    expect(dialog.get_by_role("button", name="Supprimer")).to_be_visible()
    dialog.get_by_role("button", name="Annuler").click()
    expect(dialog).to_be_hidden()
    # The Copy button ui.js gives a code block, and the header's count app.js keeps.
    copy_code = row.locator("[data-copy-code]")
    expect(copy_code).to_have_attribute("aria-label", "Copier le code python")
    expect(copy_code).to_have_text("Copier")
    page.locator("#composer-text").fill("Deuxième")
    page.locator("#composer-text").press("Enter")
    expect(page.locator("#message-count")).to_have_text("2 messages")


def test_the_persons_setting_wins_over_an_english_browser(open_page, conversation, database):
    database.shell(
        "from chatapp.accounts.models import User\n"
        "User.objects.filter(username='dominique').update(language='fr')\n"
        "print('ok')"
    )
    page = open_page(locale="en-US")
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Username or email").fill("dominique")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Sign in").click()
    page.goto(f"/c/{conversation}/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("button", name="Envoyer")).to_be_visible()
    # The settings page offers "like my browser", naming what the browser asks for.
    page.goto("/settings/")
    expect(page.get_by_label("Langue des pages")).to_have_value("fr")
    page.get_by_label("Langue des pages").select_option("")
    page.get_by_role("button", name="Enregistrer la langue").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_text("Language saved.")).to_be_visible()


def test_without_the_catalogue_the_words_are_english(open_page, conversation):
    open_page.allow(r"Failed to load resource")
    # Every page of this context, the sign-in page included, goes without its catalogue.
    original = open_page

    def blocked(**options):
        page = original(**options)
        page.route(re.compile(r"/i18n/fr\.js"), lambda route: route.abort())
        return page

    page = french_thread(blocked, conversation)
    # The page's own words stay French; what the JavaScript writes falls back to English,
    # and it still works.
    expect(page.locator("[data-theme-toggle]")).to_have_attribute(
        "aria-label", "Switch to dark mode"
    )
    dialog = delete_dialog(page)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
