//! The JSON trace that both the Rust programs and `scripts/reference.py` write, and the atomic
//! file output every program uses (`-` means stdout).
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use tch::{Kind, Tensor};

/// A tensor as nested JSON lists of numbers. f32 values widen exactly to f64, and both
/// serde_json and Python's `json` print the shortest text that reads back to the same f64,
/// so the parity check can compare the numbers bit for bit.
///
/// The Rust side of Python's `json.dumps(t.double().tolist())`.
///
/// # Example
///
/// ```
/// use lesson_torch::trace::{number, tensor_json};
/// use tch::Tensor;
///
/// let t = Tensor::from_slice(&[0.1f32, -2.5]).view([1, 2]);
/// // Python: json.dumps(torch.tensor([[0.1, -2.5]]).double().tolist())
/// assert_eq!(tensor_json(&t).to_string(), "[[0.10000000149011612,-2.5]]");
/// // JSON has no NaN: Python's float() reads these strings back.
/// assert_eq!(number(f64::NAN), "nan");
/// assert_eq!(number(f64::NEG_INFINITY), "-inf");
/// ```
pub fn tensor_json(t: &Tensor) -> Value {
    let (flat, shape) = host_values(t);
    nest(&flat, &shape)
}

/// A tensor's values on the host, widened exactly to f64 and flattened, with its shape: the
/// one copy from the device that the trace, the text and the walkthroughs all read.
pub fn host_values(t: &Tensor) -> (Vec<f64>, Vec<i64>) {
    let t = t
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Double)
        .contiguous();
    (
        Vec::<f64>::try_from(t.flatten(0, -1)).unwrap_or_default(),
        t.size(),
    )
}

fn nest(flat: &[f64], shape: &[i64]) -> Value {
    match shape {
        [] => number(flat.first().copied().unwrap_or(f64::NAN)),
        [_] => Value::Array(flat.iter().map(|&v| number(v)).collect()),
        [n, rest @ ..] => {
            let step = flat.len() / (*n).max(1) as usize;
            Value::Array(
                (0..*n as usize)
                    .map(|i| nest(&flat[i * step..(i + 1) * step], rest))
                    .collect(),
            )
        }
    }
}

/// A float as JSON; NaN and infinities, which JSON lacks, as the strings Python's float() reads.
pub fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("nan")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

/// `{name: tensor}` for a list of named tensors, in order.
pub fn named_tensors_json<'a>(named: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> Value {
    Value::Object(
        named
            .into_iter()
            .map(|(n, t)| (n.to_string(), tensor_json(t)))
            .collect(),
    )
}

/// `{name: tensor.grad}`, with null for a gradient that is None.
pub fn named_grads_json<'a>(named: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> Value {
    Value::Object(
        named
            .into_iter()
            .map(|(n, t)| {
                let g = t.grad();
                (
                    n.to_string(),
                    if g.defined() {
                        tensor_json(&g)
                    } else {
                        Value::Null
                    },
                )
            })
            .collect(),
    )
}

/// Writes `value` as pretty JSON to `path`, atomically; `-` writes to stdout.
///
/// Python's twin: `json.dump(value, f, indent=...)` to a `tempfile.mkstemp` file, then
/// `os.replace`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("trace.json");
/// let value = serde_json::json!({"losses": [1.1055, 0.9738]});
/// lesson_torch::trace::write_json(path.to_str().unwrap(), &value)?;
/// let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
/// assert_eq!(back, value);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn write_json(path: &str, value: &Value) -> Result<()> {
    if path == "-" {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    write_atomic(Path::new(path), |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}

/// Reads a whole input file that must be a regular file of at most `max_bytes`: a FIFO, a
/// device such as /dev/zero, a folder or a larger file is refused by name before anything is
/// read (opened without blocking, so a FIFO with no writer does not hang). `what` names the file
/// in errors ("checkpoint", "data file").
pub fn read_regular(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a device, a pipe or a socket)"
        };
        anyhow::bail!("cannot read {what} {shown}: it is {kind}");
    }
    if meta.len() > max_bytes {
        anyhow::bail!(
            "cannot read {what} {shown}: {} bytes, more than the {max_bytes} bytes accepted",
            meta.len()
        );
    }
    set_blocking(&file).with_context(|| format!("cannot read {what} {shown}"))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that grew since it was measured.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > max_bytes {
        anyhow::bail!("cannot read {what} {shown}: more than the {max_bytes} bytes accepted");
    }
    Ok(bytes)
}

/// Fails early, before any work is done, when `path` cannot be written (a missing or read-only
/// folder, a folder in the way): a probe temp file is created beside it, exactly as
/// [`write_atomic`] will (random name, `O_EXCL`, never through a symlink), and removed.
pub fn check_writable(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.file_name().is_none() || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if is_special(path) {
        // /dev/null, /dev/full, a pipe: written straight through, never replaced.
        open_special(path).with_context(|| format!("cannot write {shown}"))?;
        return Ok(());
    }
    temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    Ok(())
}

/// [`check_writable`] for a `--json` destination (`-`, stdout, needs no check).
pub fn check_json_destination(json: Option<&str>) -> Result<()> {
    match json {
        Some(path) if path != "-" => check_writable(Path::new(path)),
        _ => Ok(()),
    }
}

/// An existing path that is not a regular file (a device such as /dev/null or /dev/full, a
/// pipe): it must be written in place. Renaming a temp file over it would replace a device
/// node, and as root that would succeed.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens a device or a pipe for writing without blocking: a pipe with no reader is an error
/// ("No such device or address"), not a wait without end.
fn open_special(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    set_blocking(&file)?;
    Ok(file)
}

/// Clears `O_NONBLOCK` on an open file, so that writes wait for a slow reader as usual.
fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with flags it reported itself.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new temp file in `path`'s folder, with a random name, created with `O_EXCL` (a planted
/// file or symlink of that name makes it pick another, never follow it), removed when dropped.
fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        // The OS error alone: the temp file's random name means nothing to the user.
        .map_err(|e| io::Error::new(e.kind(), crate::cli::io_message(&e)))
}

/// Writes a file through a temp file in the same folder, flushed to disk and then renamed over
/// `path`: a reader sees the old file or the new one, never half of one, and a failure leaves
/// the old file as it was and no temp file behind. The temp file has a random name and is
/// created exclusively, so nothing planted in the folder is followed or overwritten; a symlink
/// at `path` itself is replaced, never written through. A device or a pipe at `path` is
/// written in place.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let shown = path.display();
    if path.file_name().is_none() || path.is_dir() {
        anyhow::bail!("cannot write {shown}: not a file path");
    }
    if is_special(path) {
        let file = open_special(path).with_context(|| format!("cannot write {shown}"))?;
        let mut w = BufWriter::new(file);
        write(&mut w).with_context(|| format!("cannot write {shown}"))?;
        w.flush().with_context(|| format!("cannot write {shown}"))?;
        return Ok(());
    }
    let temp = temp_file_beside(path).with_context(|| format!("cannot write {shown}"))?;
    let (file, temp_path) = temp.into_parts();
    // `temp_path` removes the file when dropped: on every error below, nothing stays behind.
    let mut w = BufWriter::new(file);
    write(&mut w).with_context(|| format!("cannot write {shown}"))?;
    let file = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {shown}"))?;
    file.sync_all()
        .with_context(|| format!("cannot write {shown}"))?;
    drop(file);
    temp_path
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {shown}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_nest_and_keep_f32_bits() {
        let t = Tensor::from_slice(&[0.1f32, 2.0, -3.5, 1e-8, 5.0, 6.0]).view([2, 3]);
        let v = tensor_json(&t);
        assert_eq!(v[0][0].as_f64().unwrap(), 0.1f32 as f64);
        assert_eq!(v[1][1].as_f64().unwrap(), 5.0);
        assert_eq!(v[1][0].as_f64().unwrap(), 1e-8f32 as f64);
        assert_eq!(tensor_json(&Tensor::from(3.0f32)), json!(3.0));
        assert_eq!(number(f64::NAN), json!("nan"));
    }

    #[test]
    fn atomic_write_replaces_or_keeps() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().to_path_buf();
        let path = dir.join("out.json");
        std::fs::write(&path, "old").unwrap();
        let failed = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        write_json(path.to_str().unwrap(), &json!({"a": 1})).unwrap();
        // A device is written in place, never replaced: /dev/null swallows, /dev/full fails.
        write_json("/dev/null", &json!({"a": 1})).unwrap();
        let err = format!(
            "{:#}",
            write_json("/dev/full", &json!({"a": 1})).unwrap_err()
        );
        assert!(err.contains("No space left"), "{err}");
        assert!(is_special(Path::new("/dev/full")));
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"a\": 1"));
    }
}
