"""One invocation from request to response: event, handler, context, result."""
