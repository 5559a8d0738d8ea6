//! What every program does the same way: parse options, print, and fail.
//!
//! - A usage error (unknown option, bad value) prints one line, `error: ...`, and exits 2.
//! - A run-time error prints one line, `error: ...` (the causes joined by `: `), and exits 1.
//! - Output piped into `head` ends quietly: a broken pipe is a normal end, exit 0.
use clap::{CommandFactory, Parser};
use std::io::{self, Write};
use std::process::ExitCode;

/// The options every program shares: where to run and where to write the trace.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Device: cpu, cuda, cuda:N or auto (cuda when present). CUDA support is loaded only for
    /// these last three, and before anything else.
    #[arg(long, default_value = "cpu", value_parser = crate::device::DeviceRequest::parse)]
    pub device: crate::device::DeviceRequest,
    /// Write a JSON trace of every value the program shows (config, torch version, device,
    /// parameters, losses, gradients) to PATH; `-` for stdout, instead of the text.
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
}

impl CommonArgs {
    /// The device, checked against the machine, after checking that the trace can be written.
    pub fn prepare(&self) -> anyhow::Result<tch::Device> {
        if let Some(json) = self.json.as_deref().filter(|j| *j != "-") {
            distinct_files(&[("--json", std::path::Path::new(json), true)])?;
        }
        crate::io::files::check_json_destination(self.json.as_deref())?;
        self.device.resolve()
    }

    /// `--json PATH`, if given.
    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }

    /// Where the text and the trace go: printed as they come, the trace to `--json`.
    pub fn output(&self) -> crate::io::report::Output {
        crate::io::report::Output::live(self.json.clone())
    }
}

/// Every option at its default: a program's `Config::default()`, read from the one place where
/// the defaults are written, the `#[arg(default_value = ...)]` of the config's fields (which is
/// also what `--help` shows).
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every option has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults are valid values")
}

/// Parses the command line; on a usage error prints its first line and exits with status 2.
///
/// Every option whose value is a number takes a value that starts with a hyphen (`--lr -1`,
/// `--epochs -5`), so that the option's own check refuses it with the rule in words.
pub fn parse_args<T: Parser + CommandFactory>() -> T {
    use std::any::TypeId;
    let numeric = |a: &clap::Arg| {
        let id = a.get_value_parser().type_id();
        id == TypeId::of::<i64>() || id == TypeId::of::<f64>()
    };
    let command = || {
        T::command().mut_args(|a| {
            let hyphens = numeric(&a);
            a.allow_hyphen_values(hyphens)
        })
    };
    match command()
        .try_get_matches()
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches))
    {
        Ok(args) => args,
        Err(err) => {
            // An argument with a control character (a line break in a path) would break or
            // lose part of the line: the error is worded again from the arguments with their
            // control characters escaped (`\n`, `\x1c`), as reference.py prints them.
            let escaped: Option<Vec<String>> = std::env::args_os()
                .map(|a| {
                    a.into_string()
                        .ok()
                        .map(|a| crate::error::escape_controls(&a))
                })
                .collect();
            let err = match escaped {
                Some(args) if err.kind() != clap::error::ErrorKind::InvalidUtf8 => command()
                    .try_get_matches_from(args)
                    .and_then(|mut matches| T::from_arg_matches_mut(&mut matches))
                    .err()
                    .filter(|again| again.kind() == err.kind())
                    .unwrap_or(err),
                _ => err,
            };
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if err.kind() == DisplayVersion {
                let _ = writeln!(
                    crate::io::files::stdout(),
                    "{}",
                    version_text(&T::command())
                );
                std::process::exit(0);
            }
            if err.kind() == DisplayHelp {
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

/// `--version`: the program and crate, the libtorch it runs on, and whether CUDA support can be
/// loaded here (trying it is what tells).
pub fn version_text(command: &clap::Command) -> String {
    let cuda = match crate::device::cuda_support() {
        Ok(()) => format!(
            "loadable ({} CUDA device(s))",
            tch::Cuda::device_count().max(0)
        ),
        Err(why) => format!("not loadable ({why})"),
    };
    // The program's own name (clap's derive names every program after the crate).
    let program = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| command.get_name().to_string());
    format!(
        "{program} ({} {}), libtorch {}, CUDA support: {cuda}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        crate::device::runtime_torch_version(),
    )
}

/// What a path stands for, compared by identity (device and inode), not by name: so a bind
/// mount, a hard link or `/dev/stdin` cannot make an output the same file as an input unseen.
#[derive(Debug)]
enum Identity {
    /// An existing file: read from, written through, or replaced in its folder (device, inode,
    /// and size, modification and change times: [`PartialEq`]).
    File(u64, u64, Stamp),
    /// A file not there yet: its name in its folder (device and inode of the folder).
    Name(u64, u64, std::ffi::OsString),
}

/// A file's size and times (nanoseconds), which tell it apart from another file that has the
/// same inode number on another device.
type Stamp = (u64, i64, i64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    (
        meta.size(),
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    )
}

/// The same file: on one device, the same inode; across devices, the same size and times to the
/// nanosecond (an overlay file system shows a lower layer's file under its own device, and
/// with `xino=on` under another inode number: the file and its overlay view are one).
impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Across devices the inode may differ too (an overlay with `xino=on`).
            (Identity::File(d1, i1, s1), Identity::File(d2, i2, s2)) => {
                if d1 == d2 {
                    i1 == i2
                } else {
                    s1 == s2
                }
            }
            (Identity::Name(d1, i1, n1), Identity::Name(d2, i2, n2)) => {
                (d1, i1, n1) == (d2, i2, n2)
            }
            _ => false,
        }
    }
}

/// An input is the file it is read from (symlinks followed). An output written in place (a
/// device, a pipe, `/dev/stdout`, `/dev/stdin`) is what it leads to, when that is a regular
/// file (a device may be named twice). An output that is replaced is the file at its name (not
/// through a symlink: the rename replaces the link), or, when there is none, its name in its
/// folder. `None`: nothing to compare (a missing input is reported when it is read).
fn file_identity(path: &std::path::Path, output: bool) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    if !output || crate::io::files::writes_in_place(path) {
        let meta = std::fs::metadata(path).ok()?;
        return (!output || meta.is_file())
            .then(|| Identity::File(meta.dev(), meta.ino(), stamp(&meta)));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_symlink() => {
            Some(Identity::File(meta.dev(), meta.ino(), stamp(&meta)))
        }
        _ => {
            let at = crate::io::files::absolute(path)?;
            let folder = std::fs::metadata(at.parent()?).ok()?;
            Some(Identity::Name(
                folder.dev(),
                folder.ino(),
                at.file_name()?.to_os_string(),
            ))
        }
    }
}

/// Refuses, as a usage error, two options that stand for the same file where one of them is an
/// output (`--json X --save X`, `--json data/digits.csv`, the data folder under another mount,
/// `--json /dev/stdin < data.csv`): the output would replace or write into the other. Devices
/// such as /dev/null may be named twice.
pub fn distinct_files(files: &[(&str, &std::path::Path, bool)]) -> anyhow::Result<()> {
    // Stderr redirected into an input (`2>> data/digits.csv`) is refused, and no line may be
    // written there, not even the refusal (stderr goes to /dev/null; status 2 still says it).
    if let Some(stderr) = std_identity(2) {
        let input = files.iter().find(|(_, path, output)| {
            !output && file_identity(path, false).as_ref() == Some(&stderr)
        });
        if let Some((name, path, _)) = input {
            crate::sys::silence_stderr();
            return Err(UsageError(format!(
                "{name} and stderr name the same file {}: one would overwrite the other",
                path.display()
            ))
            .into());
        }
    }
    for (i, (a, path_a, out_a)) in files.iter().enumerate() {
        for (b, path_b, out_b) in &files[i + 1..] {
            if !(out_a | out_b) {
                continue;
            }
            let (x, y) = (file_identity(path_a, *out_a), file_identity(path_b, *out_b));
            if x.is_some() && x == y {
                return Err(UsageError(format!(
                    "{a} and {b} name the same file {}: the output would replace it",
                    path_b.display()
                ))
                .into());
            }
        }
    }
    // Stdout and stderr redirected to a file (`> f`, `2>> f`) are outputs too: into an input
    // they would write, and under an output that is replaced the text would go with the old
    // file. An error line into an input is not written at all (stderr goes to /dev/null).
    for (stream, fd) in [("stdout", 1), ("stderr", 2)] {
        let Some(stream_file) = std_identity(fd) else {
            continue;
        };
        for (name, path, output) in files {
            let replaced = *output && !crate::io::files::writes_in_place(path);
            if (replaced || !output) && file_identity(path, *output).as_ref() == Some(&stream_file)
            {
                if fd == 2 {
                    crate::sys::silence_stderr();
                }
                return Err(UsageError(format!(
                    "{name} and {stream} name the same file {}: one would overwrite the other",
                    path.display()
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// The file of descriptor 1 (stdout) or 2 (stderr), when it is a regular file.
fn std_identity(fd: i32) -> Option<Identity> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let owned = if fd == 1 {
        std::io::stdout().as_fd().try_clone_to_owned().ok()?
    } else {
        std::io::stderr().as_fd().try_clone_to_owned().ok()?
    };
    let file = std::fs::File::from(owned);
    let meta = file.metadata().ok()?;
    meta.is_file()
        .then(|| Identity::File(meta.dev(), meta.ino(), stamp(&meta)))
}

pub use crate::error::{one_line, UsageError};

/// The signals' handlers (see [`crate::signals`]), installed once more here in case the
/// program did not install them before `main`; an error at start if one cannot be.
pub fn install_signal_handlers() -> anyhow::Result<()> {
    crate::signals::install().map_err(|signal| {
        anyhow::anyhow!(
            "cannot install the handler of {}: {}",
            crate::signals::name(signal),
            io::Error::last_os_error()
        )
    })
}

/// How long a program may take to stop after the first signal before it is ended.
pub const GRACE: std::time::Duration = crate::signals::GRACE;

pub use crate::signals::{stop_signal, Interrupted};

/// `Err(Interrupted)` once a stop signal has arrived; the training loops call it each step.
pub fn check_interrupt() -> anyhow::Result<()> {
    stop_signal().map_or(Ok(()), |stop| Err(stop.into()))
}

/// Runs a program's body and turns its result into the exit status.
///
/// A panic inside the body (tch's non-`f_` operations unwrap libtorch's errors, such as an
/// allocation that does not fit) is caught here as a last resort and reported like any other
/// run-time error: one line, status 1, no backtrace. Input-dependent allocations are fallible
/// before that (see `try_push` and the `f_` constructors), so this should not be reached.
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    std::panic::set_hook(Box::new(|_| {}));
    // A signal that came before `main` (the handlers are installed before libtorch's start-up)
    // stops the program before any work.
    let body = || {
        install_signal_handlers()?;
        check_interrupt()?;
        body()
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(anyhow::anyhow!(panic_message(payload.as_ref()))));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            let signal = err.downcast_ref::<Interrupted>().map_or(2, |i| i.0);
            print_error_line(&err.to_string());
            ExitCode::from(128 + signal as u8)
        }
        Err(err) => {
            print_error_line(&one_line(&err));
            ExitCode::from(if err.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

/// Prints `error: TEXT` on stderr, unless a signal's line has been printed already.
fn print_error_line(text: &str) {
    if crate::signals::claim_line() {
        let _ = writeln!(io::stderr().lock(), "error: {text}");
    }
}

/// The message of a caught panic: libtorch's own first line when tch unwrapped a libtorch error.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    if let Some(start) = text.find("Torch(\"") {
        let torch = &text[start + 7..];
        let end = torch
            .find("\\n")
            .or_else(|| torch.find("\")"))
            .unwrap_or(torch.len());
        return format!("libtorch: {}", &torch[..end]);
    }
    format!(
        "internal error: {}",
        text.lines().next().unwrap_or_default()
    )
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

/// Appends to a record that grows with a run's length (`--epochs`, `--steps`), failing with a
/// clear error instead of aborting when memory runs out.
pub fn try_push<T>(record: &mut Vec<T>, item: T, option: &str) -> anyhow::Result<()> {
    if record.try_reserve(1).is_err() {
        anyhow::bail!(
            "{option}: the record of {} values for the trace no longer fits in memory",
            record.len()
        );
    }
    record.push(item);
    Ok(())
}

/// The error for a loss that is no longer a finite number, naming the epoch (or step).
pub fn diverged(loss: f64, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the loss is {} at {what}: training diverged (try a smaller --lr, or --allow-nan to watch it)",
        crate::io::report::fmt_value(loss, 4)
    )
}

/// The check every training loop makes on a step's or an epoch's loss: a loss that is no longer
/// finite stops the run with [`diverged`] (unless `allow_nan`), and so does a Ctrl-C or SIGTERM
/// ([`check_interrupt`]). `what` names the step or epoch (`epoch 3`), only when needed.
pub fn check_loss(loss: f64, allow_nan: bool, what: impl FnOnce() -> String) -> anyhow::Result<()> {
    if !loss.is_finite() && !allow_nan {
        return Err(diverged(loss, &what()));
    }
    check_interrupt()
}

/// A path option's value, taken as text: a path that is not UTF-8 is refused as clap refuses
/// it in every text option ("invalid UTF-8 was detected in one or more arguments", status 2),
/// the same on both sides (it could not be printed in a message or a trace either).
pub fn utf8_path(s: &str) -> Result<std::path::PathBuf, String> {
    Ok(std::path::PathBuf::from(s))
}

/// An integer option from `lo` to `hi`: out-of-range values (however many digits they have) and
/// anything that is not a plain integer are refused with the rule in words.
pub fn int_in_range(s: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let t = s.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not an integer"));
    }
    // The value as Python's int() prints it, however many digits it has.
    let magnitude = digits.trim_start_matches('0');
    let shown = match (negative, magnitude.is_empty()) {
        (_, true) => "0".to_string(),
        (true, false) => format!("-{magnitude}"),
        (false, false) => magnitude.to_string(),
    };
    // Too many digits for an i64: below the range when negative, above it otherwise.
    let below = match t.parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) => return Ok(v),
        Ok(v) => v < lo,
        Err(_) => negative,
    };
    if below && hi == i64::MAX {
        Err(format!("must be at least {lo}, got {shown}"))
    } else {
        Err(format!("must be from {lo} to {hi}, got {shown}"))
    }
}

/// `--epochs`, `--samples`, `--steps`, ...: an integer of at least 1.
pub fn positive_int(s: &str) -> Result<i64, String> {
    int_in_range(s, 1, i64::MAX)
}

/// The largest rate an option takes: float32's largest number. The parameters are float32, and
/// libtorch refuses a larger step factor (`value cannot be converted to type float without
/// overflow`) on both sides.
pub const MAX_RATE: f64 = f32::MAX as f64;

/// A number option that must satisfy `ok`; else `must be <requirement>, got <value>`, or
/// `'<text>' is not a number` (`reference.py`'s `number_arg`, with the same words).
pub fn float_where(s: &str, ok: impl Fn(f64) -> bool, requirement: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if ok(v) => Ok(v),
        Ok(v) => Err(format!(
            "must be {requirement}, got {}",
            crate::io::report::py_repr(v)
        )),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// `--lr`: a number greater than 0, at most [`MAX_RATE`].
pub fn positive_finite(s: &str) -> Result<f64, String> {
    float_where(
        s,
        |v| v > 0.0 && v <= MAX_RATE,
        "greater than 0 and at most 3.4028234663852886e+38 (float32's largest)",
    )
}

/// `--momentum`, `--weight-decay`: a number from 0 to [`MAX_RATE`].
pub fn non_negative_finite(s: &str) -> Result<f64, String> {
    float_where(
        s,
        |v| (0.0..=MAX_RATE).contains(&v),
        "from 0 to 3.4028234663852886e+38 (float32's largest)",
    )
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

    /// The line a signal handler writes (a static buffer) is the line `run` prints.
    #[test]
    fn the_handlers_line_is_the_programs_line() {
        for (signal, _) in crate::signals::STOP_SIGNALS {
            let line = format!("error: {}\n", Interrupted(signal));
            assert_eq!(crate::signals::line_parts(signal).concat(), line.as_bytes());
        }
    }

    /// A program's `Config::default()` is its command line without options (the lesson's
    /// values, which reference.py's argparse defaults also are).
    #[test]
    fn a_config_default_is_the_command_line_without_options() {
        use crate::programs::{activations, classify, fc_demo, softmax};
        let s = softmax::Config::default();
        assert_eq!(
            (s.seed, s.epochs, s.lr, s.samples, s.logits, s.allow_nan),
            (7, 70, 0.1, 7, false, false)
        );
        assert!(s.record && s.device == tch::Device::Cpu);
        let f = fc_demo::Config::default();
        assert_eq!((f.seed, f.lr, f.steps, f.allow_nan), (0, 0.01, 1, false));
        assert_eq!(f.output, crate::io::report::Output::Collect);
        let a = activations::Config::default();
        assert_eq!((a.points, a.seed, a.epochs, a.plot), (13, 0, 70, None));
        let c = classify::Config::default();
        assert_eq!((c.dataset, c.seed, c.test_fraction), (None, None, None));
        assert_eq!((c.epochs, c.batch_size), (30, 32));
        assert_eq!((c.lr, c.momentum, c.weight_decay), (0.1, 0.0, 0.0));
        assert_eq!(c.data_dir, std::path::PathBuf::from("data"));
        assert!(c.load.is_none() && c.save.is_none() && c.plot.is_none() && !c.evaluate);
    }

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
        let err = anyhow::anyhow!("inner\nException raised from f at x.cpp:1\nframe #0: f")
            .context("outer");
        assert_eq!(one_line(&err), "outer: inner");
        // A line break in a path is shown, not cut at (the line would name another path).
        let err =
            anyhow::anyhow!("No such file or directory").context("cannot write no\nsuch/t.json");
        assert_eq!(
            one_line(&err),
            "cannot write no\\nsuch/t.json: No such file or directory"
        );
        let pipe = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&pipe.context("printing")));
    }
}
