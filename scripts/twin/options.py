"""Argument parsing that answers as the Rust programs (clap, through src/cli.rs) do: the number
and device parsers with their words, and an argparse parser with clap's error lines."""
import argparse
import re
import sys

import torch


def device_arg(name):
    """--device's spelling (an argparse type, as src/device.rs DeviceRequest::parse): a misspelt
    device is a usage error."""
    index = name[5:] if name.startswith("cuda:") else None
    if name in ("cpu", "cuda", "auto") or (
            index and all("0" <= c <= "9" for c in index) and int(index) < 2**64):
        return name
    raise argparse.ArgumentTypeError(f"unknown device '{name}': expected cpu, cuda, cuda:N or auto")


def parse_device(name):
    """--device cpu|cuda|cuda:N|auto, checked against the machine (as src/device.rs)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda:0" if count > 0 else "cpu")
    index = 0 if name == "cuda" else None
    if name.startswith("cuda:") and name[5:].isdigit():
        index = int(name[5:])
    if index is None:
        sys.exit(f"error: unknown device '{name}': expected cpu, cuda, cuda:N or auto")
    if count == 0:
        sys.exit(f"error: device cuda:{index} is not available: this machine has no CUDA device")
    if index >= count:
        sys.exit(f"error: device cuda:{index} is not available: this machine has {count} CUDA device(s)")
    return torch.device(f"cuda:{index}")


# What Rust's str::trim removes (Unicode White_Space); Python's str.strip also removes \x1c-\x1f.
RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
                  "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def rust_trim(s):
    """`s.trim()` as Rust reads it: a value that Python would strip further is not trimmed
    into a number (`--epochs $'\\x1c2'` is not an integer on either side)."""
    t = s.strip(RUST_WHITESPACE)
    if t != t.strip():
        raise ValueError(s)
    return t


def rust_number(convert, s):
    """`convert(s)`, reading only what Rust's parsers read as a number: no '_' separators, no
    non-ASCII digits, Rust's whitespace only (ValueError otherwise)."""
    t = rust_trim(s)
    if "_" in t or not t.isascii():
        raise ValueError(s)
    return convert(t)


def number_arg(convert, ok, requirement):
    """An argparse type: `convert` the text (rust_number), then require `ok(value)` (as
    src/cli.rs words it)."""
    kind = "an integer" if convert is int else "a number"

    def parse(s):
        try:
            v = rust_number(convert, s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not {kind}")
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{requirement}, got {v}")
        return v

    parse.numeric = True  # takes a value that starts with '-' (clap: allow_hyphen_values)
    return parse


def int_in_range(lo, hi=2**63 - 1):
    """An integer option from lo to hi (as src/cli.rs int_in_range, with its words)."""

    def parse(s):
        try:
            t = rust_trim(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not an integer")
        digits = t[1:] if t[:1] in "+-" else t
        if not digits or not all("0" <= c <= "9" for c in digits):
            raise argparse.ArgumentTypeError(f"'{s}' is not an integer")
        v = int(t)
        if lo <= v <= hi:
            return v
        if v < lo and hi == 2**63 - 1:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {v}")

    parse.numeric = True
    return parse


positive_int = int_in_range(1)
MAX_RATE = 3.4028234663852886e+38  # float32's largest: the parameters are float32 (src/cli.rs)
positive_finite = number_arg(float, lambda v: 0 < v <= MAX_RATE,
                             f"must be greater than 0 and at most {MAX_RATE!r} (float32's largest)")
non_negative_finite = number_arg(float, lambda v: 0 <= v <= MAX_RATE,
                                 f"must be from 0 to {MAX_RATE!r} (float32's largest)")
fraction = number_arg(float, lambda v: 0 < v < 1, "must be between 0 and 1 (exclusive)")


def seed_value(s):
    try:
        v = rust_number(int, s)
    except ValueError:
        v = -1
    if v < 0 or v > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"'{s}' is not a seed: expected an integer from 0 to {2**63 - 1}")
    return v


seed_value.numeric = True


def usage_exit(line):
    """A usage error: its line on stderr and status 2, as clap's; a stderr that cannot take the
    line (a closed pipe, a full disk) does not change the status."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    sys.exit(2)


def _Once(base):
    """An argparse action class that refuses a second occurrence of its option."""
    class Once(base):
        def __call__(self, parser, namespace, values, option_string=None):
            seen = namespace.__dict__.setdefault("_seen_options", set())
            if self.dest in seen:
                usage_exit(f"error: the argument {parser._named(self.option_strings[0])} "
                           "cannot be used multiple times")
            seen.add(self.dest)
            namespace.__dict__.setdefault("_given_order", []).append(self.dest)
            # clap takes a value that starts with '-' only for a number; for text it is an option
            if isinstance(values, str) and values.startswith("-") and values != "-" \
                    and not getattr(self.type, "numeric", False) and f"{option_string}={values}" not in sys.argv:
                flag = values.split("=", 1)[0] if values.startswith("--") else values[:2]
                usage_exit(f"error: unexpected argument '{flag}' found")
            super().__call__(parser, namespace, values, option_string)
    return Once


class ClapLikeParser(argparse.ArgumentParser):
    """argparse answering bad usage as the Rust programs (clap, through src/cli.rs) do: one line
    `error: ...` with clap's wording, exit status 2. No abbreviated options; a value may start
    with '-' (`--lr -1`, `--lr -inf`) and is then checked as a value."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(?!-)")
        # An option given twice is an error, as clap says it (argparse would keep the last).
        self.register("action", None, _Once(argparse._StoreAction))
        self.register("action", "store", _Once(argparse._StoreAction))
        self.register("action", "store_true", _Once(argparse._StoreTrueAction))

    def _named(self, option):
        action = self._option_string_actions.get(option)
        if action is None:
            return f"'{option}'"
        if action.nargs == 0:
            return f"'{option}'"
        return f"'{option} <{action.metavar or action.dest.upper()}>'"

    def _get_value(self, action, arg_string):
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as e:
            raise argparse.ArgumentError(
                action, f"invalid value '{arg_string}' for {self._named(action.option_strings[0])}: {e.message}")

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            if not action.option_strings:  # the program's name (a subcommand), as clap words it
                raise argparse.ArgumentError(action, f"unrecognized subcommand '{value}' [the programs: {choices}]")
            raise argparse.ArgumentError(
                action, f"invalid value '{value}' for {self._named(action.option_strings[0])} "
                        f"[possible values: {choices}]")

    def error(self, message):
        line = message
        m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)$", message, re.S)
        if m:
            option, rest = m.groups()
            choices = getattr(self._option_string_actions.get(option), "choices", None)
            after = sys.argv[sys.argv.index(option) + 1:][:1] if option in sys.argv else []
            action = self._option_string_actions.get(option)
            numeric = getattr(getattr(action, "type", None), "numeric", False)
            if rest == "expected one argument" and after and numeric:
                # clap gives a number option the next argument, hyphens and all, to check
                try:
                    action.type(after[0])
                    reason = "not a value"
                except argparse.ArgumentTypeError as e:
                    reason = str(e)
                line = f"invalid value '{after[0]}' for {self._named(option)}: {reason}"
            elif rest == "expected one argument" and after and after[0].startswith("-") and after[0] != "-" \
                    and after[0].split("=", 1)[0] not in self._option_string_actions:
                # clap reads the next argument as an option, not as the missing value
                flag = after[0].split("=", 1)[0] if after[0].startswith("--") else after[0][:2]
                line = f"unexpected argument '{flag}' found"
            elif rest == "expected one argument":
                line = f"a value is required for {self._named(option)} but none was supplied"
                if choices:
                    line += f" [possible values: {', '.join(map(str, choices))}]"
            elif rest.startswith("ignored explicit argument "):
                value = rest[len("ignored explicit argument "):]
                line = f"unexpected value {value} for '{option}' found; no more were expected"
            elif rest.startswith("not allowed with argument "):
                other = rest[len("not allowed with argument "):]
                line = f"the argument {self._named(other)} cannot be used with {self._named(option)}"
            else:
                line = rest
        elif message.startswith("unrecognized arguments: "):
            # the first unrecognised argument as it was given (argparse joins them with spaces)
            listed = message.split(": ", 1)[1]
            first = next((a for a in sys.argv[1:] if listed.startswith(a) and a not in self._option_string_actions),
                         listed.split(" ")[0])
            line = f"unexpected argument '{first}' found"
        elif message.startswith("the following arguments are required: "):
            names = message.split(": ", 1)[1].split(", ")
            line = "the following required arguments were not provided: " + " ".join(
                self._named(n).strip("'") for n in names)
        from twin.errors import escape_controls
        usage_exit(f"error: {escape_controls(line)}")


def clap_argv(argv):
    """What clap decides before any option is parsed, for `reference.py PROGRAM ARGS...`:
    an argument that is not UTF-8 is refused (clap reads every option as text); `--` ends the
    options, and whatever follows it is an unexpected argument. Returns ARGS without `--`."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            usage_exit("error: invalid UTF-8 was detected in one or more arguments")
    if "--" in argv[1:]:
        at = argv.index("--", 1)
        if argv[at + 1:]:
            usage_exit(f"error: unexpected argument '{argv[at + 1]}' found")
        argv = argv[:at]
    return argv


class Version(argparse.Action):
    """-V, --version: a line naming the program, the crate's version and libtorch's (as clap's
    version flag in src/cli.rs prints it), status 0."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="Print version")

    def __call__(self, parser, namespace, values, option_string=None):
        import os
        cargo = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "Cargo.toml")
        version = next((line.split('"')[1] for line in open(cargo) if line.startswith("version = ")), "?")
        devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
        program = parser.prog.split()[-1]
        try:
            print(f"{program} (lesson_torch {version}, its Python twin), libtorch {torch.__version__}, "
                  f"CUDA: {devices} CUDA device(s)", flush=True)
        except OSError:
            os._exit(0)  # as clap's -V: a stdout that cannot take the line (a closed pipe) changes nothing
        parser.exit(0)

