//! Step-by-step walkthroughs (`autograd_demo`, `fc_demo`, `activations`) as titled blocks of text
//! with the values behind them, printed the same way by the Rust programs and by
//! `scripts/reference.py`, and written as a JSON trace for the parity check.
use crate::io::trace::{number, tensor_json};
use serde_json::{json, Map, Value};
use std::io::{self, Write};
use tch::{Device, Tensor};

/// A tensor's values with a fixed number of decimals, nested like the tensor:
/// `[5.0000]`, `[[0.1000, -0.2000], [0.3000, 0.4000]]` (Python's `'%.4f'` on each value).
pub fn fmt_tensor(t: &Tensor, decimals: usize) -> String {
    let (flat, shape) = crate::io::trace::host_values(t);
    fn walk(flat: &[f64], shape: &[i64], d: usize) -> String {
        match shape {
            [] => fmt_value(flat.first().copied().unwrap_or(f64::NAN), d),
            [n, rest @ ..] => {
                let step = flat.len() / (*n).max(1) as usize;
                let parts: Vec<String> = (0..*n as usize)
                    .map(|i| walk(&flat[i * step..(i + 1) * step], rest, d))
                    .collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
    walk(&flat, &shape, decimals)
}

pub use crate::lesson::fmt_value;

/// Python's `repr(float)`: the shortest text that reads back to `v`, in Python's layout
/// (`0.01`, `1.0`, `1e-05`, `1.5e+16`).
pub fn py_repr(v: f64) -> String {
    if !v.is_finite() {
        return fmt_value(v, 0);
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{v}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Python's `str(bool)`.
pub fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A titled block: lines of text and the values they show.
#[derive(Debug, Default)]
pub struct Block {
    /// The block's title, printed as `== title`.
    pub title: String,
    /// The text lines, as `reference.py` prints them.
    pub lines: Vec<String>,
    /// The values the lines show, for the trace.
    pub values: Map<String, Value>,
    /// Its title and lines have already been printed by [`Report::stream_line`].
    streamed: bool,
}

impl Block {
    /// An empty block.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// Adds a line of text (Python's `print`).
    pub fn line(&mut self, text: impl Into<String>) -> &mut Self {
        self.lines.push(text.into());
        self
    }

    /// Records a tensor under `name` in the trace.
    pub fn tensor(&mut self, name: &str, t: &Tensor) -> &mut Self {
        self.values.insert(name.to_string(), tensor_json(t));
        self
    }

    /// Records a number under `name` in the trace.
    pub fn number(&mut self, name: &str, v: f64) -> &mut Self {
        self.values.insert(name.to_string(), number(v));
        self
    }

    /// Records any JSON value under `name` in the trace.
    pub fn value(&mut self, name: &str, v: Value) -> &mut Self {
        self.values.insert(name.to_string(), v);
        self
    }
}

/// Where a walkthrough's output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Output {
    /// Keep every block, text and values, until [`Report::emit`] (tests read them).
    #[default]
    Collect,
    /// What a program does: print each block on stdout as soon as it is complete (a long loop
    /// prints line by line), and keep the values only when a JSON trace is asked for
    /// (`Some("-")`: the trace on stdout instead of the text).
    Live {
        /// `--json PATH`, if given.
        json: Option<String>,
    },
}

impl Output {
    /// A program's output: the text on stdout, unless `--json -` puts the trace there instead.
    pub fn live(json: Option<String>) -> Self {
        Self::Live { json }
    }

    /// Whether lines are printed as they come (not with `--json -`, nor when collecting).
    pub fn prints_text(&self) -> bool {
        matches!(self, Self::Live { json } if json.as_deref() != Some("-"))
    }

    /// Prints one line of a program's text, when it prints text at all: the one way every
    /// program (a walkthrough block, an epoch of `softmax`, a line of `classify`) prints.
    pub fn line(&self, out: &mut impl Write, text: &str) -> io::Result<()> {
        if self.prints_text() {
            writeln!(out, "{text}")?;
        }
        Ok(())
    }

    /// Writes the JSON trace where `--json` asked for it (`-`: stdout), if it did.
    pub fn trace(&self, value: &Value) -> anyhow::Result<()> {
        match self {
            Self::Live { json: Some(path) } => crate::io::trace::write_json(path, value),
            _ => Ok(()),
        }
    }
}

/// A whole walkthrough.
#[derive(Debug)]
pub struct Report {
    /// The program's name (`reference.py`'s subcommand).
    pub program: String,
    /// `torch.device` of the run.
    pub device: Device,
    /// The options, for the trace.
    pub config: Value,
    /// The blocks so far.
    pub blocks: Vec<Block>,
    output: Output,
    /// Blocks printed so far (for the blank line between two).
    printed: usize,
    /// The first error writing the text (a closed pipe), returned by [`Report::emit`].
    write_error: Option<io::Error>,
}

impl Report {
    /// A report that keeps everything for [`Report::emit`].
    pub fn new(program: &str, device: Device, config: Value) -> Self {
        Self::with_output(program, device, config, Output::Collect)
    }

    /// A report with the given output (a live one prints each block as it comes).
    pub fn with_output(program: &str, device: Device, config: Value, output: Output) -> Self {
        Self {
            program: program.to_string(),
            device,
            config,
            blocks: Vec::new(),
            output,
            printed: 0,
            write_error: None,
        }
    }

    fn prints_text(&self) -> bool {
        self.output.prints_text()
    }

    /// Whether the values are kept (for the trace or the tests): a long loop records its
    /// values only then.
    pub fn keeps_values(&self) -> bool {
        match &self.output {
            Output::Collect => true,
            Output::Live { json } => json.is_some(),
        }
    }

    fn write_header(&mut self, out: &mut impl Write, title: &str) -> io::Result<()> {
        if self.printed > 0 {
            writeln!(out)?;
        }
        self.printed += 1;
        writeln!(out, "== {title}")
    }

    /// Adds a complete block: printed now by a live report, kept for [`Report::emit`] otherwise.
    pub fn push(&mut self, mut block: Block) {
        if self.prints_text() && self.write_error.is_none() {
            let mut out = crate::io::files::stdout();
            let result = (|| {
                if !block.streamed {
                    self.write_header(&mut out, &block.title)?;
                    for line in &block.lines {
                        writeln!(out, "{line}")?;
                    }
                }
                out.flush()
            })();
            if let Err(e) = result {
                self.write_error = Some(e);
            }
        }
        match &self.output {
            Output::Collect => self.blocks.push(block),
            Output::Live { json: Some(_) } => {
                block.lines.clear();
                self.blocks.push(block);
            }
            Output::Live { json: None } => {}
        }
    }

    /// A line of a block that is still running (a training loop): a live report prints it at
    /// once, under the block's title; a collecting one keeps it in the block.
    pub fn stream_line(&mut self, block: &mut Block, line: String) -> io::Result<()> {
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        match &self.output {
            Output::Collect => {
                block.lines.push(line);
                Ok(())
            }
            _ if self.prints_text() => {
                let mut out = crate::io::files::stdout();
                if !block.streamed {
                    block.streamed = true;
                    self.write_header(&mut out, &block.title)?;
                }
                writeln!(out, "{line}")
            }
            _ => Ok(()),
        }
    }

    /// The text: `== title`, the lines, a blank line between blocks.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "== {}", block.title)?;
            for line in &block.lines {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()
    }

    /// The trace: program, torch version, device, config, and every block's values.
    pub fn to_json(&self) -> Value {
        let blocks: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| json!({"title": b.title, "values": b.values}))
            .collect();
        crate::io::trace::trace(
            &self.program,
            self.device,
            self.config.clone(),
            json!({ "blocks": blocks }),
        )
    }

    /// Prints the text to stdout (a live report has printed it already), or with
    /// `json = Some("-")` the trace instead; any other `json` path gets the trace as well as
    /// the text on stdout.
    pub fn emit(mut self, json: Option<&str>) -> anyhow::Result<()> {
        if let Some(e) = self.write_error.take() {
            return Err(e.into());
        }
        if json != Some("-") && self.output == Output::Collect {
            self.write_text(&mut crate::io::files::stdout())?;
        }
        if let Some(path) = json {
            crate::io::trace::write_json(path, &self.to_json())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_percent_f() {
        let t = Tensor::from_slice(&[0.5f32, -1.25, 2.0, 3.0]).view([2, 2]);
        assert_eq!(fmt_tensor(&t, 2), "[[0.50, -1.25], [2.00, 3.00]]");
        assert_eq!(fmt_tensor(&Tensor::from(5.0f32), 1), "5.0");
        assert_eq!(fmt_value(f64::NEG_INFINITY, 3), "-inf");
        assert_eq!(py_bool(true), "True");
        for (v, python) in [
            (0.01, "0.01"),
            (1.0, "1.0"),
            (1e-5, "1e-05"),
            (2.5e17, "2.5e+17"),
            (0.0001, "0.0001"),
            (123456.0, "123456.0"),
        ] {
            assert_eq!(py_repr(v), python);
        }
    }

    #[test]
    fn text_has_titled_blocks() {
        let mut r = Report::new("t", Device::Cpu, json!({}));
        let mut b = Block::new("one");
        b.line("a = 1").number("a", 1.0);
        r.push(b);
        r.push(Block::new("two"));
        let mut out = Vec::new();
        r.write_text(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "== one\na = 1\n\n== two\n");
        assert_eq!(r.to_json()["blocks"][0]["values"]["a"], json!(1.0));
    }
}
