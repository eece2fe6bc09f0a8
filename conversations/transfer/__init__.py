"""Export and import file formats, with no database access: reading an uploaded file (JSON or
ZIP) within limits, ChatGPT's export format, our own versioned JSON format, and Markdown.

services/transfer.py writes what these read (conversation_import); selectors/export.py
reads what these write (conversation_export). docs/import-export.md describes both formats.
"""
