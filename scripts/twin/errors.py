"""The one-line errors that end a run (as src/lib.rs and src/cli.rs word them)."""
import sys

from twin.report import fmt_value


def torch_error(e):
    """The first line of a libtorch error, without its C++ backtrace (as src/lib.rs)."""
    return next((l.strip() for l in str(e).splitlines() if l.strip()), "unknown libtorch error")


def diverged(loss, what):
    """The error for a loss that is no longer finite (as src/cli.rs words it): stop, exit 1."""
    print("error: the loss is %s at %s: training diverged (try a smaller --lr, or --allow-nan to watch it)"
          % (fmt_value(loss, 4), what), file=sys.stderr)
    sys.exit(1)
