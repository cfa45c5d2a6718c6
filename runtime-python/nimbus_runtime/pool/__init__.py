"""The warm pool: a generic replica that starts with everything but a function, and takes one on."""
