"""R19's knowledge base in the engine: articles and cases (closed work orders), a
search that works for Chinese (``terms``), shown on the desk beside the call and
suggested by its kind, written by supervisors (``/knowledge``), opens counted."""
