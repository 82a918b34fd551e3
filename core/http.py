"""Small helpers over HTTP requests that several layers need."""


def declared_length(headers) -> int | None:
    """The request's declared Content-Length, or None when it has none or it is not a
    non-negative integer. `headers` is a Django `request.META` (CONTENT_LENGTH) or an ASGI
    scope's header list."""
    if isinstance(headers, dict):
        raw = headers.get("CONTENT_LENGTH")
    else:
        raw = next((value for name, value in headers if name.lower() == b"content-length"), None)
    if raw in (None, "", b""):
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None
