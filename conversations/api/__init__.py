"""The conversations API routers, one module per area; chatapp/api.py mounts them."""
