"""The HTML pages: the sidebar and the thread, posting, and the conversation actions, on the
same selectors and services as the API. Every page works without JavaScript (forms and
links); static/js/app.js adds live updates, streaming and in-place posting on top."""

import uuid
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatapp import ratelimit
from chatapp.accounts.views import rate_limited_page
from conversations import selectors, services
from conversations.assistant.generation import prepare_reply, start_generation
from conversations.downloads import artifact_response
from conversations.exceptions import BadCursor, ChatError, NotFound, RateLimited
from conversations.forms import ConversationForm, MessageForm, RenameForm, ReportForm
from conversations.models import TITLE_MAX_LENGTH, Agent, ConversationKind, Workspace
from conversations.pagination import (
    decode_number_cursor,
    decode_time_id_cursor,
    encode_number_cursor,
    encode_time_id_cursor,
)
from conversations.selectors.people import (
    agents_for_user,
    users_by_usernames,
    workspaces_for_user,
)
from conversations.services.agents import DEFAULT_AGENT_SLUG
from conversations.templatetags.ui import undo_restore_tag

THREAD_PAGE = 50


def sidebar_context(request: HttpRequest, *, current=None, section: str = "recent") -> dict:
    """What the sidebar shows: pinned and recent (or the archive, or the trash), a page at a
    time. `?cursor=` (from the "Older conversations" link) asks for the page after it; the
    pinned ones come with the first page only."""
    user = request.user
    title_query = request.GET.get("filter", "").strip()[:200] or None
    try:
        after = decode_time_id_cursor("conversations", request.GET.get("cursor") or None)
    except BadCursor:
        after = None  # an old or edited link: the newest page is the useful answer
    if section == "archived":
        pinned = []
        listing = selectors.conversation_list_for_user(user=user, archived=True, after=after)
    elif section == "trash":
        pinned = []
        listing = selectors.conversation_list_for_user(
            user=user, archived=None, deleted=True, after=after
        )
    else:
        pinned = (
            selectors.conversation_list_for_user(
                user=user, pinned=True, title_query=title_query
            ).items
            if after is None
            else []
        )
        listing = selectors.conversation_list_for_user(
            user=user, pinned=False, title_query=title_query, after=after
        )
    older_query = None
    if listing.has_more:
        query = QueryDict(mutable=True)
        if section != "recent":
            query["section"] = section
        if title_query:
            query["filter"] = title_query
        query["cursor"] = encode_time_id_cursor("conversations", *listing.next_key)
        older_query = query.urlencode()
    return {
        "section": section,
        "pinned": pinned,
        "listing": listing.items,
        "listing_is_older_page": after is not None,
        "older_query": older_query,
        "current": current,
        "filter": title_query or "",
    }


def _new_conversation_context(request: HttpRequest, form=None) -> dict:
    agents = agents_for_user(user=request.user)
    memberships = workspaces_for_user(user=request.user)
    return {
        "new_form": form or ConversationForm(agents=agents, memberships=memberships),
        "agents": agents,
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    section = request.GET.get("section", "recent")
    if section not in ("recent", "archived", "trash"):
        section = "recent"
    context = {**sidebar_context(request, section=section), **_new_conversation_context(request)}
    return render(request, "conversations/home.html", context)


@login_required
@require_GET
def sidebar(request: HttpRequest) -> HttpResponse:
    """The sidebar alone, for live updates (app.js swaps it in)."""
    current = request.GET.get("current")
    section = request.GET.get("section", "recent")
    context = sidebar_context(
        request, section=section if section in ("archived", "trash") else "recent"
    )
    context["current_id"] = current
    return render(request, "conversations/partials/sidebar_lists.html", context)


def _thread(request: HttpRequest, conversation_id, *, before=None, after=None):
    try:
        return selectors.message_page(
            user=request.user,
            conversation_id=conversation_id,
            before=before,
            after=after,
            limit=THREAD_PAGE,
        )
    except NotFound:
        raise Http404("No such conversation.") from None


def _int_value(value: str) -> int | None:
    """A number sent as text, else None. ASCII digits only, as many as a bigint has:
    str.isdigit() is true of "²" and of the Arabic-Indic "1" (U+0661) too, which int()
    refuses or reads as 1, and int() refuses more than 4,300 digits."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _int_param(request: HttpRequest, name: str) -> int | None:
    """A position from the query string, else None (the newest page)."""
    return _int_value(request.GET.get(name, ""))


def _thread_page(
    request: HttpRequest, conversation_id, *, before=None, composer: dict | None = None
) -> HttpResponse:
    """The thread page; `composer` puts back what was typed (content, client_message_id)
    when a post was refused."""
    page = _thread(request, conversation_id, before=before)
    conversation = page.conversation
    if page.items and before is None:
        # Seen: the newest page is on screen.
        services.conversation_mark_read(conversation=conversation, user=request.user)
    context = {
        **sidebar_context(request, current=conversation),
        **_new_conversation_context(request),
        "conversation": conversation,
        "participant": conversation.participant,
        "page": page,
        "message_form": MessageForm(),
        "composer": composer or {},
        "rename_form": RenameForm(initial={"title": conversation.title}),
        "can_reply": conversation.kind == ConversationKind.ASSISTANT,
        "agent_missing": False,
        "retention_days": settings.RETENTION_DAYS,
    }
    return render(request, "conversations/thread.html", context)


@login_required
@require_GET
def thread(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The thread; `?at=<message id>` opens it at that message (a search hit), on the
    version of its turn that holds it: the person is shown that version from now on, as if
    they had picked it (another version's words are found too: docs/search.md)."""
    before = _int_param(request, "before")
    at = _message_at(request, conversation_id)
    if at is not None:
        services.version_show(message=at, actor=request.user)
        before = at.position + THREAD_PAGE // 2
    return _thread_page(request, conversation_id, before=before)


def _message_at(request: HttpRequest, conversation_id: uuid.UUID):
    """The message `?at=` names, if the person can see it and it is of this conversation."""
    value = request.GET.get("at")
    if not value:
        return None
    try:
        message = selectors.message_get_for_user(user=request.user, message_id=value)
    except NotFound:
        return None
    return message if message.conversation_id == conversation_id else None


@login_required
@require_GET
def thread_rows(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Message rows only: an older page (?before=) or what came after (?after=), for
    app.js. The same row partial as the full page."""
    page = _thread(
        request,
        conversation_id,
        before=_int_param(request, "before"),
        after=_int_param(request, "after"),
    )
    response = render(
        request,
        "conversations/partials/message_rows.html",
        {"page": page, "conversation": page.conversation, "report_form": ReportForm()},
    )
    response["X-Has-More-Before"] = "1" if page.has_more_before else "0"
    response["X-Has-More-After"] = "1" if page.has_more_after else "0"
    return response


def _new_chat_agent(
    request: HttpRequest, *, agent_id: str, workspace_slug: str
) -> tuple[Agent | None, str, Workspace | None]:
    """A New chat's assistant: (the agent asked for, else None: the workspace's default;
    the name to show, "" when there is no agent yet; the workspace it goes in: the
    agent's, else the one asked for, else the person's default). Agent and workspace are
    asked for by the people form when "With the assistant" is chosen; one the person
    does not have is not asked for. The default agent is made here once a model is
    configured, so that it is named before anyone has used it."""
    services.agent_defaults_ensure(user=request.user)
    agents = agents_for_user(user=request.user)
    chosen = next((agent for agent in agents if str(agent.pk) == agent_id), None)
    workspace = chosen.workspace if chosen else None
    if workspace is None and workspace_slug:
        memberships = workspaces_for_user(user=request.user)
        workspace = next(
            (m.workspace for m in memberships if m.workspace.slug == workspace_slug), None
        )
    workspace = workspace or request.user.default_workspace
    default = next(
        (a for a in agents if a.workspace == workspace and a.slug == DEFAULT_AGENT_SLUG), None
    )
    named = chosen or default
    return chosen, named.name if named else "", workspace


def _idempotency_key(value: str) -> str:
    """The client_message_id a New chat's form carries: the one it was sent with, so that
    sending it again after a refusal or twice over makes one conversation, else a new one."""
    return value if value.isprintable() and 0 < len(value) <= 100 else uuid.uuid4().hex


@login_required
@require_http_methods(["GET", "POST"])
def new_chat(request: HttpRequest) -> HttpResponse:
    """New chat: the empty thread of an assistant conversation that does not exist yet,
    its composer focused (GET: reloading or leaving it makes nothing). The conversation
    is made by its first message: this form's POST without JavaScript (conversation and
    message in one step, idempotent by the client_message_id the page was rendered with,
    so a double submit makes one), or app.js through POST /api/v1/conversations with
    `message`. Counted against POST_RATE_LIMIT as any post (docs/ui.md)."""
    data = request.POST if request.method == "POST" else request.GET
    agent, agent_name, workspace = _new_chat_agent(
        request, agent_id=data.get("agent", ""), workspace_slug=data.get("workspace", "")
    )
    title = " ".join(data.get("title", "").split())[:TITLE_MAX_LENGTH]
    content = request.POST.get("content", "")
    client_message_id = request.POST.get("client_message_id", "")
    refusal, limited = "", None
    if request.method == "POST":
        try:
            ratelimit.hit(ratelimit.POSTS, str(request.user.pk))
            conversation, message, _ = services.conversation_create_with_message(
                creator=request.user,
                kind=ConversationKind.ASSISTANT,
                content=content,
                client_message_id=client_message_id or None,
                title=title,
                workspace=workspace,
                agent=agent,
            )
        except RateLimited as error:
            refusal, limited = ratelimit.page_message(error), error
        except ChatError as error:
            refusal = error.message
        else:
            return redirect(
                reverse("conversations:thread", args=[conversation.pk]) + f"#m{message.seq}"
            )
    context = {
        **sidebar_context(request),
        **_new_conversation_context(request),
        "new_chat_page": True,
        "agent": agent,
        "agent_name": agent_name,
        "workspace": workspace,
        "title": title,
        "composer": {
            "content": content,
            "client_message_id": _idempotency_key(client_message_id),
            "error": refusal,
        },
    }
    response = render(
        request, "conversations/new_chat.html", context, status=422 if refusal else 200
    )
    return rate_limited_page(response, limited) if limited else response


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    agents = agents_for_user(user=request.user)
    memberships = workspaces_for_user(user=request.user)
    form = ConversationForm(request.POST, agents=agents, memberships=memberships)
    if form.is_valid():
        data = form.cleaned_data
        if data["kind"] == ConversationKind.ASSISTANT:
            # Made by its first message, as New chat is: that page, with what was chosen.
            chosen = {key: data[key] for key in ("agent", "workspace", "title") if data[key]}
            query = f"?{urlencode(chosen)}" if chosen else ""
            return redirect(reverse("conversations:new_chat") + query)
        try:
            workspace = next(
                (m.workspace for m in memberships if m.workspace.slug == data["workspace"]),
                None,
            ) or services.workspace_default_for(user=request.user, kind=data["kind"])
            agent = None
            if data["kind"] == ConversationKind.ASSISTANT:
                agent = next((a for a in agents if str(a.pk) == data["agent"]), None)
                if agent is not None:
                    workspace = agent.workspace
            people = users_by_usernames(usernames=data["participants"])
            conversation, _ = services.conversation_create(
                creator=request.user,
                kind=data["kind"],
                title=data["title"],
                workspace=workspace,
                agent=agent,
                participants=people,
            )
        except ChatError as error:
            field = error.details.get("field")
            field = {"agent_id": "agent"}.get(field, field)
            form.add_error(field if field in form.fields else None, error.message)
        else:
            return redirect("conversations:thread", conversation_id=conversation.pk)
    context = {**sidebar_context(request), **_new_conversation_context(request, form)}
    return render(request, "conversations/home.html", context, status=422)


@login_required
@require_POST
def post(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Post from the composer without JavaScript; app.js posts through the API instead.
    Counted against the same POST_RATE_LIMIT as the API; over it, the thread again with
    429, the reason, and the text still in the composer."""
    conversation = _thread(request, conversation_id).conversation
    try:
        ratelimit.hit(ratelimit.POSTS, str(request.user.pk))
    except RateLimited as error:
        flash.error(request, ratelimit.page_message(error))
        typed = {
            "content": request.POST.get("content", "").replace("\x00", ""),
            "client_message_id": request.POST.get("client_message_id", "")[:100],
        }
        page = _thread_page(request, conversation.pk, composer=typed)
        return rate_limited_page(page, error)
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            message, _ = services.message_post(
                conversation=conversation,
                sender=request.user,
                content=form.cleaned_data["content"],
                client_message_id=form.cleaned_data.get("client_message_id") or None,
            )
        except ChatError as error:
            flash.error(request, error.message)
        else:
            return redirect(
                reverse("conversations:thread", args=[conversation.pk]) + f"#m{message.seq}"
            )
    else:
        flash.error(
            request, " ".join(form.errors.get("content", [gettext("The message is not valid.")]))
        )
    return redirect("conversations:thread", conversation_id=conversation.pk)


ACTIONS = {
    "rename",
    "pin",
    "unpin",
    "archive",
    "unarchive",
    "delete",
    "restore",
    "complete",
    "reopen",
}


@login_required
@require_POST
def act(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The conversation's buttons: rename, pin, archive, delete, restore, complete."""
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        flash.error(request, gettext("Unknown action."))
        return redirect("conversations:home")
    deleted = action == "restore"
    try:
        conversation = selectors.conversation_get_for_user(
            user=request.user, conversation_id=conversation_id, deleted=deleted
        )
    except NotFound:
        raise Http404("No such conversation.") from None
    user = request.user
    try:
        if action == "rename":
            form = RenameForm(request.POST)
            if not form.is_valid():
                flash.error(request, gettext("A title is at most 200 characters."))
            else:
                services.conversation_update(
                    conversation=conversation, actor=user, title=form.cleaned_data["title"]
                )
        elif action in ("pin", "unpin"):
            services.participant_set_flags(
                conversation=conversation, user=user, pinned=action == "pin"
            )
        elif action in ("archive", "unarchive"):
            services.participant_set_flags(
                conversation=conversation, user=user, archived=action == "archive"
            )
            flash.success(
                request,
                gettext("Archived: you will find it under Archived in the sidebar.")
                if action == "archive"
                else gettext("Back in your recent conversations."),
            )
        elif action in ("complete", "reopen"):
            services.conversation_update(
                conversation=conversation,
                actor=user,
                status="completed" if action == "complete" else "active",
            )
        elif action == "delete":
            services.conversation_delete(conversation=conversation, actor=user)
            flash.success(
                request,
                ngettext(
                    "Moved “%(title)s” to the trash. It stays in Trash for %(days)s day; then"
                    " it is removed for good.",
                    "Moved “%(title)s” to the trash. It stays in Trash for %(days)s days; then"
                    " it is removed for good.",
                    settings.RETENTION_DAYS,
                )
                % {
                    "title": conversation.display_title or gettext("Untitled"),
                    "days": settings.RETENTION_DAYS,
                },
                extra_tags=undo_restore_tag(conversation.pk),
            )
            return redirect("conversations:home")
        elif action == "restore":
            services.conversation_restore(conversation=conversation, actor=user)
            archived = conversation.participant.archived_at is not None
            flash.success(
                request,
                gettext("Restored, to Archived, where it was before.")
                if archived
                else gettext("Restored to your recent conversations."),
            )
    except ChatError as error:
        flash.error(request, error.message)
    return redirect("conversations:thread", conversation_id=conversation.pk)


def _message_or_404(request: HttpRequest, message_id: uuid.UUID):
    try:
        return selectors.message_get_for_user(user=request.user, message_id=message_id)
    except NotFound:
        raise Http404("No such message.") from None


@login_required
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """Report a message: a page of its own with the form (GET), sent here (POST). The
    thread links to it from each message's menu rather than holding a form per message,
    which made the page half again as large (docs/ui.md)."""
    message = _message_or_404(request, message_id)
    thread_url = (
        reverse("conversations:thread", args=[message.conversation_id]) + f"#m{message.seq}"
    )
    form = ReportForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            services.report_create(
                message=message,
                reporter=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
            flash.success(request, gettext("Thank you. A moderator will look at it."))
            return redirect(thread_url)
        flash.error(request, gettext("Choose a reason for the report."))
    context = {
        **sidebar_context(request, current=message.conversation),
        "message": message,
        "report_form": form,
        "thread_url": thread_url,
    }
    return render(request, "conversations/report.html", context)


@login_required
@require_GET
def message_source(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """A message's text as written (Markdown), for the Copy button; participants only,
    nothing for a deleted or hidden message."""
    message = _message_or_404(request, message_id)
    if not message.is_visible:
        raise Http404("No such message.")
    response = HttpResponse(message.content, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def edit_message(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """Edit one's own message: a page with the text in a form (GET), saved here (POST).
    app.js edits in place through the API instead; this is the same without JavaScript."""
    message = _message_or_404(request, message_id)
    if message.sender_id != request.user.pk or not message.is_visible:
        raise Http404("No such message.")
    thread_url = (
        reverse("conversations:thread", args=[message.conversation_id]) + f"#m{message.seq}"
    )
    form = MessageForm(request.POST or None, initial={"content": message.content})
    if request.method == "POST" and form.is_valid():
        try:
            services.message_edit(
                message=message, actor=request.user, content=form.cleaned_data["content"]
            )
        except ChatError as error:
            flash.error(request, error.message)
        return redirect(thread_url)
    context = {
        **sidebar_context(request, current=message.conversation),
        "message": message,
        "form": form,
        "thread_url": thread_url,
    }
    return render(request, "conversations/edit.html", context)


@login_required
@require_GET
def message_history(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """A message's edit history, linked from its "edited" marker: the text now and, newest
    first, the texts its edits replaced (`?cursor=` for older ones). Participants only; a
    deleted or hidden message shows that it is, and no text (docs/data-model.md)."""
    try:
        before = decode_number_cursor("revisions", request.GET.get("cursor") or None)
    except BadCursor:
        before = None  # an old or edited link: the newest page is the useful answer
    try:
        history = selectors.message_history_for_user(
            user=request.user, message_id=message_id, before=before, limit=THREAD_PAGE
        )
    except NotFound:
        raise Http404("No such message.") from None
    message = history.message
    thread_url = (
        reverse("conversations:thread", args=[message.conversation_id]) + f"#m{message.seq}"
    )
    older_query = None
    if history.has_more:
        older_query = urlencode({"cursor": encode_number_cursor("revisions", history.next_before)})
    context = {
        **sidebar_context(request, current=message.conversation),
        "message": message,
        "history": history,
        "is_older_page": before is not None,
        "older_query": older_query,
        "thread_url": thread_url,
    }
    return render(request, "conversations/history.html", context)


@login_required
@require_POST
def delete_message(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    message = _message_or_404(request, message_id)
    try:
        services.message_delete(message=message, actor=request.user)
    except ChatError as error:
        flash.error(request, error.message)
    return redirect(
        reverse("conversations:thread", args=[message.conversation_id]) + f"#m{message.seq}"
    )


@login_required
@require_POST
async def retry(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """Regenerate an assistant reply, any of them, or retry one that ended in error: the
    buttons under a reply and in its error note, which work without JavaScript. A new
    version of the turn is written (`prepare_reply`, within the same REPLY_RATE_LIMIT) and
    the person is shown it, the earlier one kept; the reply is written by a task of the
    server's loop, owned by no request, and reaches the page through the live events."""
    message = await sync_to_async(_message_or_404)(request, message_id)
    back = reverse("conversations:thread", args=[message.conversation_id])
    user = await request.auser()
    limit_key = str(user.pk)
    try:
        await sync_to_async(ratelimit.check)(ratelimit.REPLIES, limit_key)
        prepared = await sync_to_async(prepare_reply)(
            user=user,
            conversation_id=message.conversation_id,
            regenerate=True,
            message_id=message.pk,
            # The form's key (partials/message_row.html): submitted twice, one version.
            client_message_id=request.POST.get("client_message_id") or None,
        )
    except RateLimited as error:
        flash.error(request, ratelimit.page_message(error))
        return redirect(back + f"#m{message.seq}")
    except ChatError as error:
        flash.error(request, error.message)
        return redirect(back + f"#m{message.seq}")
    if not prepared.failed:  # else it is saved as error again, saying why
        await sync_to_async(ratelimit.record)(ratelimit.REPLIES, limit_key)
        start_generation(prepared)
    return redirect(back + f"#m{prepared.message.seq}")


@login_required
@require_POST
def show_version(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """The version arrows (2 of 3): be shown another version of a turn (the `version`
    field: its number), on every device, as POST /api/v1/messages/{id}/show does; a plain
    form, so it works without JavaScript. The thread opens at the version picked."""
    version = _int_value(request.POST.get("version", ""))
    try:
        target = selectors.turn_version(user=request.user, message_id=message_id, version=version)
    except NotFound:
        raise Http404("No such version.") from None
    services.version_show(message=target, actor=request.user)
    return redirect(
        reverse("conversations:thread", args=[target.conversation_id]) + f"#m{target.seq}"
    )


@login_required
@require_GET
def artifact(request: HttpRequest, artifact_id: uuid.UUID) -> FileResponse:
    """An artifact's file, for participants of its conversation only."""
    try:
        found = selectors.artifact_get_for_user(user=request.user, artifact_id=artifact_id)
    except NotFound:
        raise Http404("No such file.") from None
    return artifact_response(found)


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    hits, error = [], ""
    if query:
        try:
            hits = selectors.message_search(user=request.user, text=query, limit=50).items
        except ChatError as failure:
            error = failure.message
    context = {**sidebar_context(request), "query": query, "hits": hits, "error": error}
    return render(request, "conversations/search.html", context)
