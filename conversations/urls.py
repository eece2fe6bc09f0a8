from django.urls import path

from conversations import views, workspace_views

app_name = "conversations"

urlpatterns = [
    path("", views.home, name="home"),
    path("sidebar", views.sidebar, name="sidebar"),
    path("search", views.search, name="search"),
    path("new", views.new_chat, name="new_chat"),
    path("c/new", views.create, name="create"),
    path("c/<uuid:conversation_id>/", views.thread, name="thread"),
    path("c/<uuid:conversation_id>/rows", views.thread_rows, name="rows"),
    path("c/<uuid:conversation_id>/post", views.post, name="post"),
    path("c/<uuid:conversation_id>/act", views.act, name="act"),
    path("m/<uuid:message_id>/report", views.report, name="report"),
    path("m/<uuid:message_id>/source", views.message_source, name="message_source"),
    path("m/<uuid:message_id>/edit", views.edit_message, name="edit_message"),
    path("m/<uuid:message_id>/history", views.message_history, name="message_history"),
    path("m/<uuid:message_id>/delete", views.delete_message, name="delete_message"),
    path("m/<uuid:message_id>/retry", views.retry, name="retry"),
    path("m/<uuid:message_id>/version", views.show_version, name="show_version"),
    path("artifacts/<uuid:artifact_id>", views.artifact, name="artifact"),
    path("w/", workspace_views.workspaces, name="workspaces"),
    path("w/<slug:slug>/", workspace_views.workspace, name="workspace"),
    path("invite/<str:token>", workspace_views.invitation, name="invitation"),
]
