"""The one-line errors that end a run (as src/lib.rs and src/cli.rs word them)."""
import sys


def torch_error(e):
    """The first line of a libtorch error, without its C++ backtrace (as src/lib.rs)."""
    return next((l.strip() for l in str(e).splitlines() if l.strip()), "unknown libtorch error")


def diverged(loss, what):
    """The error for a loss that is no longer finite (as src/cli.rs words it): stop, exit 1."""
    from twin.report import fmt_value  # here: twin.report imports twin.files, which imports this

    print("error: the loss is %s at %s: training diverged (try a smaller --lr, or --allow-nan to watch it)"
          % (fmt_value(loss, 4), what), file=sys.stderr)
    sys.exit(1)


def escape_controls(text):
    """TEXT with its control characters escaped as repr escapes them (\\n, \\t, \\r, \\x1c): an
    error line stays one line and names the path it means (as src/error.rs escape_controls)."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    # C0, DEL and C1 (U+0085 ends a line for splitlines, U+009B starts a terminal escape), and the
    # Unicode line and paragraph separators
    return "".join(named.get(c, "\\x%02x" % ord(c)) if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in named
                   else c for c in text)


def one_line_exit(program):
    """Runs PROGRAM(); an error that ends it with a message (sys.exit("error: ...")) is printed
    with its control characters escaped, status 1, as the Rust programs print theirs."""
    try:
        program()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(escape_controls(e.code), file=sys.stderr)
            sys.exit(1)
        raise
