"""The assistant: the client for OpenAI-compatible model servers (`provider`) and the context
sent to them (`context`). No Django writes here; the reply orchestration calls the services."""
