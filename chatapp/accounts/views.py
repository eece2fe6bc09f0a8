"""Account pages: sign in and out, register, settings (profile, theme, personal API
tokens)."""

from django.conf import settings
from django.contrib import admin
from django.contrib import messages as flash
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from chatapp import ratelimit
from chatapp.accounts import oidc, selectors, services, signin
from chatapp.accounts.forms import (
    LanguageForm,
    ProfileForm,
    RegisterForm,
    SignInForm,
    ThemeForm,
    TokenForm,
)
from conversations.exceptions import ChatError, RateLimited

THEME_COOKIE = "theme"


def theme(request: HttpRequest) -> dict:
    """Context processor: the chosen theme (system, light or dark), from its cookie."""
    chosen = request.COOKIES.get(THEME_COOKIE, "system")
    return {"theme": chosen if chosen in ("light", "dark") else "system"}


def rate_limited_page(response: HttpResponse, error: RateLimited) -> HttpResponse:
    """A page that refused a request for a rate limit: 429 and how long to wait (the form
    it shows keeps what was typed)."""
    response.status_code = 429
    response["Retry-After"] = str(error.retry_after)
    return response


def sign_in_page(view):
    """Wraps a sign-in view (the site's, the admin's): a locked-out attempt's page answers
    429 with Retry-After; the form says why."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    return wrapped


PASSWORD_SIGN_IN_OFF = gettext_lazy(
    "Password sign-in is turned off on this server: sign in with %(provider)s."
)


class SignInView(LoginView):
    """The sign-in page: the password form (unless PASSWORD_SIGN_IN is off) and, with single
    sign-on set up, "Sign in with <provider>"."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["password_sign_in"] = settings.PASSWORD_SIGN_IN
        context["registration_open"] = settings.ALLOW_REGISTRATION and settings.PASSWORD_SIGN_IN
        if settings.SSO_ENABLED:
            context["sso_provider"] = settings.OIDC_PROVIDER_NAME
            context["refusal"] = self.request.session.pop(oidc.REFUSAL_SESSION_KEY, None)
        return context

    def post(self, request, *args, **kwargs):
        if settings.PASSWORD_SIGN_IN:
            return super().post(request, *args, **kwargs)
        # Refused before the form is validated: no password is checked, no failure counted.
        context = self.get_context_data(form=self.get_form_class()(request))
        context["refusal"] = PASSWORD_SIGN_IN_OFF % {"provider": settings.OIDC_PROVIDER_NAME}
        return self.render_to_response(context, status=403)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out here, and at the provider too when this session came from single sign-on and
    the provider ends sessions (RP-initiated logout; docs/security.md)."""
    id_token = request.session.get(oidc.ID_TOKEN_SESSION_KEY)
    logout(request)  # announces itself: the streams this session opened end
    target = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if id_token and settings.SSO_ENABLED:
        target = oidc.end_session_url(request, id_token) or target
    return redirect(target)


def admin_sign_in(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """The admin's own sign-in, or with password sign-in off the site's page (the admin
    shares its session), and a 403 for someone signed in who is not staff (the two would
    otherwise send them to each other)."""
    if settings.PASSWORD_SIGN_IN:
        return admin.site.login(request, *args, **kwargs)
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect("admin:index")
        raise PermissionDenied("This account cannot use the admin.")
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


def add_form_errors(form, error: ChatError) -> None:
    """A service's error on the form: on each field it names, else on the whole form."""
    problems = error.details.get("errors") or [
        {"field": error.details.get("field"), "message": error.message}
    ]
    for problem in problems:
        field = problem["field"]
        form.add_error(field if field in form.fields else None, problem["message"])


def safe_next(request: HttpRequest) -> str:
    """Where to go once registered (`next`, as Django's sign-in page takes it: an
    invitation link, say), when it is on this site; else ""."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def register(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_REGISTRATION or not settings.PASSWORD_SIGN_IN:
        return render(request, "registration/closed.html", status=403)
    form = RegisterForm(request.POST or None)
    after = safe_next(request)
    if request.method == "POST":
        try:
            ratelimit.hit(ratelimit.REGISTRATIONS, signin.client_address(request))
        except RateLimited as error:
            form.is_valid()
            form.add_error(None, ratelimit.page_message(error))
            page = render(request, "registration/register.html", {"form": form, "next": after})
            return rate_limited_page(page, error)
        if form.is_valid():
            try:
                user = services.user_register(**form.cleaned_data)
            except ChatError as error:
                add_form_errors(form, error)
            else:
                login(request, user, backend="chatapp.accounts.auth.UsernameOrEmailBackend")
                return redirect(after or "conversations:home")
    return render(request, "registration/register.html", {"form": form, "next": after})


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    profile_form = ProfileForm(initial={"display_name": user.display_name})
    token_form = TokenForm()
    browser_language = translation.get_language_from_request(request)
    language_form = LanguageForm(
        initial={"language": user.language}, browser_language=browser_language
    )
    created_token = None
    refused = None
    if request.method == "POST":
        if "language" in request.POST:
            language_form = LanguageForm(request.POST, browser_language=browser_language)
            if language_form.is_valid():
                language = language_form.cleaned_data["language"]
                services.user_language_set(user=user, language=language)
                # The answer, and the toast it leaves, are in the language chosen.
                translation.activate(language or browser_language)
                flash.success(request, gettext("Language saved."))
                return redirect("settings")
        elif "display_name" in request.POST:
            profile_form = ProfileForm(request.POST)
            if profile_form.is_valid():
                user.display_name = " ".join(profile_form.cleaned_data["display_name"].split())
                user.save(update_fields=["display_name", "updated_at"])
                flash.success(request, gettext("Profile saved."))
                return redirect("settings")
        elif "token_name" in request.POST:
            token_form = TokenForm(
                {
                    "name": request.POST.get("token_name"),
                    "expires_in_days": request.POST.get("expires_in_days"),
                }
            )
            if token_form.is_valid():
                try:
                    ratelimit.hit(ratelimit.TOKEN_CREATIONS, str(user.pk))
                    issued = services.personal_token_create(
                        user=user,
                        name=token_form.cleaned_data["name"],
                        expires_in_days=token_form.cleaned_data["expires_in_days"],
                    )
                except RateLimited as error:
                    token_form.add_error(None, ratelimit.page_message(error))
                    refused = error
                except ChatError as error:
                    add_form_errors(token_form, error)
                else:
                    created_token = issued.raw
                    token_form = TokenForm()
        elif "revoke" in request.POST:
            try:
                services.personal_token_revoke(user=user, token_id=request.POST["revoke"])
                flash.success(request, gettext("Token revoked."))
            except ChatError as error:
                flash.error(request, error.message)
            return redirect("settings")
    tokens, _ = selectors.personal_tokens_for_user(user=user, after=None, limit=100)
    response = render(
        request,
        "registration/settings.html",
        {
            "profile_form": profile_form,
            "token_form": token_form,
            "tokens": tokens,
            "created_token": created_token,
            "theme_form": ThemeForm(initial={"theme": theme(request)["theme"]}),
            "language_form": language_form,
        },
    )
    # The page may show a new token: never kept by a browser's or a proxy's cache.
    response["Cache-Control"] = "no-store"
    return rate_limited_page(response, refused) if refused else response


@require_POST
def set_theme(request: HttpRequest) -> HttpResponse:
    """Remember the theme in a cookie (a year), then go back where the form was."""
    form = ThemeForm(request.POST)
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = redirect(target)
    if form.is_valid():
        response.set_cookie(
            THEME_COOKIE,
            form.cleaned_data["theme"],
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response
