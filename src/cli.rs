//! What every program does the same way: parse options, print, and fail.
//!
//! - A usage error (unknown option, bad value) prints one line, `error: ...`, and exits 2.
//! - A run-time error prints one line, `error: ...` (the causes joined by `: `), and exits 1.
//! - Output piped into `head` ends quietly: a broken pipe is a normal end, exit 0.
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The options every program shares: where to run and where to write the trace.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Device: cpu, cuda, cuda:N or auto (cuda when present).
    #[arg(long, default_value = "cpu", value_parser = crate::device::check_device_name)]
    pub device: String,
    /// Write a JSON trace of every value the program shows (config, torch version, device,
    /// parameters, losses, gradients) to PATH; `-` for stdout, instead of the text.
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
}

impl CommonArgs {
    /// The device, checked against the machine, after checking that the trace can be written.
    pub fn prepare(&self) -> anyhow::Result<tch::Device> {
        crate::trace::check_json_destination(self.json.as_deref())?;
        crate::device::parse_device(&self.device)
    }

    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }
}

/// Parses the command line; on a usage error prints its first line and exits with status 2.
pub fn parse_args<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(err) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(err.kind(), DisplayHelp | DisplayVersion) {
                let _ = err.print();
                std::process::exit(0);
            }
            // clap's first paragraph on one line ("the following required arguments were not
            // provided:" names them on the next line), without its usage and tips.
            let text = err.render().to_string();
            let paragraph: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let line = if paragraph.is_empty() {
                "error: invalid usage".to_string()
            } else {
                paragraph.join(" ")
            };
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "{line}");
            std::process::exit(2);
        }
    }
}

/// An error in how the program was called that only shows once the data is known (a batch
/// larger than the training set): reported like any usage error, with exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The signal (SIGINT or SIGTERM) that asked the program to stop, 0 while none has.
static STOP_SIGNAL: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// SIGINT and SIGTERM stop training between two steps instead of killing the process at a
/// random point: the loops call [`check_interrupt`], the program ends with an error and exit
/// status 128 + signal, and no output file is written or touched.
pub fn install_signal_handlers() {
    let flag = STOP_SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for signal in [SIGINT, SIGTERM] {
        let _ = signal_hook::flag::register_usize(signal, Arc::clone(flag), signal as usize);
    }
}

/// A training run stopped by a signal.
#[derive(Debug)]
pub struct Interrupted(pub usize);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let name = if self.0 == SIGINT as usize {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        write!(
            f,
            "interrupted by {name}: stopped before writing any output"
        )
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once SIGINT or SIGTERM has arrived; the training loops call it each step.
pub fn check_interrupt() -> anyhow::Result<()> {
    match STOP_SIGNAL.get().map(|f| f.load(Ordering::Relaxed)) {
        Some(signal) if signal != 0 => Err(Interrupted(signal).into()),
        _ => Ok(()),
    }
}

/// Runs a program's body and turns its result into the exit status.
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    install_signal_handlers();
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            let signal = err.downcast_ref::<Interrupted>().map_or(2, |i| i.0);
            let _ = writeln!(io::stderr().lock(), "error: {err}");
            ExitCode::from(128 + signal as u8)
        }
        Err(err) => {
            let _ = writeln!(io::stderr().lock(), "error: {}", one_line(&err));
            ExitCode::from(if err.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

/// An error and its causes on one line, without libtorch's C++ backtrace.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<tch::TchError>() {
            Some(e) => crate::torch_message(e),
            None => cause
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                == Some(io::ErrorKind::BrokenPipe)
    })
}

/// The error for a loss that is no longer a finite number, naming the epoch (or step).
pub fn diverged(loss: f64, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the loss is {} at {what}: training diverged (try a smaller --lr, or --allow-nan to watch it)",
        crate::report::fmt_value(loss, 4)
    )
}

/// `--epochs`, `--samples`, `--steps`, ...: an integer of at least 1.
pub fn positive_int(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(v) if v >= 1 => Ok(v),
        Ok(v) => Err(format!("must be at least 1, got {v}")),
        Err(_) => Err(format!("'{s}' is not an integer")),
    }
}

/// `--lr`: a finite number greater than 0.
pub fn positive_finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a finite number greater than 0, got {v}")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// `--momentum`, `--weight-decay`: a finite number of at least 0.
pub fn non_negative_finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a finite number of at least 0, got {v}")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// `--seed`: what `torch.manual_seed` takes, 0 to 2^63 - 1.
pub fn seed(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a seed: expected an integer from 0 to {}",
            i64::MAX
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        assert_eq!(positive_int("3"), Ok(3));
        assert!(positive_int("0").unwrap_err().contains("at least 1"));
        assert!(positive_int("-2").is_err());
        assert!(positive_int("x").unwrap_err().contains("not an integer"));
        assert_eq!(positive_finite("0.1"), Ok(0.1));
        for bad in ["0", "-1", "nan", "inf", "NaN", "abc"] {
            assert!(positive_finite(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative_finite("0"), Ok(0.0));
        assert!(seed("-1").is_err());
    }

    #[test]
    fn errors_fold_to_one_line() {
        let err = anyhow::anyhow!("inner\nbacktrace").context("outer");
        assert_eq!(one_line(&err), "outer: inner");
        let pipe = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&pipe.context("printing")));
    }
}
