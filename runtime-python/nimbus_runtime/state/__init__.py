"""ctx.state: keyed state, through the local-mode supervisor."""
