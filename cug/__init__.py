"""The CUG service: command line, settings, the sandboxed Asterisk and the service process."""
