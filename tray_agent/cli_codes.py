"""The CLI's exit codes, one list for every subcommand module (documented in the README)."""

EXIT_OK = 0           # done
EXIT_FAILED = 1       # the action failed (preflight: a BLOCK)
EXIT_INPUT = 2        # bad input or a confirmation that could not be asked
EXIT_NO_AGENT = 3     # no agent runs for this profile
EXIT_BUSY = 4         # another operation runs (or a deregistration is scheduled)
EXIT_WARN = 5         # preflight: only WARNs
EXIT_INTERRUPTED = 130  # Ctrl-C
