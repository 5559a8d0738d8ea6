"""The walkthroughs' output (as src/io/report.rs): blocks of text lines with their values, printed
as each is complete, the values kept for a JSON trace; and the numbers' text."""
import math
import sys

from twin.files import write_json
from twin.trace import number, tensor_json, trace


def fmt_value(v, d):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.*f" % (d, v)


def fmt_tensor(t, d):
    """A tensor's values with d decimals, nested like the tensor: [5.0000], [[0.1000, ...], ...]."""
    values = t.detach().cpu().double().tolist()

    def walk(v):
        return "[" + ", ".join(walk(x) for x in v) + "]" if isinstance(v, list) else fmt_value(v, d)

    return walk(values)


class Silent:
    """A text stream that keeps nothing: the lesson's print goes there under `--json -`, where
    stdout carries the trace alone."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


class Block:
    def __init__(self, title):
        self.title, self.lines, self.values = title, [], {}

    def line(self, text):
        self.lines.append(text)
        return self

    def tensor(self, name, t):
        self.values[name] = tensor_json(t)
        return self

    def number(self, name, v):
        self.values[name] = number(v)
        return self

    def value(self, name, v):
        self.values[name] = v
        return self


class Report:
    """The walkthrough's output, printed block by block as each is complete (a long loop line
    by line, through stream_line), with the values kept only for a JSON trace (as
    src/io/report.rs's live output)."""

    def __init__(self, program, device, config, json_path=None, live=True):
        self.program, self.device, self.config, self.blocks = program, device, config, []
        self.json_path, self.printed, self.live = json_path, 0, live

    def prints_text(self):
        return self.live and self.json_path != "-"

    def keeps_values(self):
        return not self.live or self.json_path is not None

    def header(self, title):
        if self.printed:
            sys.stdout.write("\n")
        self.printed += 1
        sys.stdout.write("== %s\n" % title)

    def push(self, block):
        if self.prints_text() and not getattr(block, "streamed", False):
            self.header(block.title)
            sys.stdout.write("".join(l + "\n" for l in block.lines))
            sys.stdout.flush()
        if self.keeps_values():
            if self.live:
                block.lines = []
            self.blocks.append(block)

    def stream_line(self, block, text):
        if self.prints_text():
            if not getattr(block, "streamed", False):
                block.streamed = True
                self.header(block.title)
            sys.stdout.write(text + "\n")

    def emit(self, json_path, text=True):
        if not self.live and text and json_path != "-":
            text = "\n".join("== %s\n%s" % (b.title, "".join(l + "\n" for l in b.lines)) for b in self.blocks)
            sys.stdout.write(text)
        sys.stdout.flush()
        if json_path:
            blocks = [{"title": b.title, "values": b.values} for b in self.blocks]
            write_json(json_path, trace(self.program, self.device, self.config, {"blocks": blocks}))
