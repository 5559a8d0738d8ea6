//! The JSON trace that both the Rust programs and `scripts/reference.py` write (`-` means
//! stdout); the files themselves are written by [`crate::io::files`].
use crate::io::files::write_atomic;
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;
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
/// use lesson_torch::io::trace::{number, tensor_json};
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

/// A program's trace: the header every program writes (`program`, `torch_version`, `device` and
/// `config`), then the program's own `fields` (`reference.py`'s `trace`).
pub fn trace(program: &str, device: tch::Device, config: Value, fields: Value) -> Value {
    let mut trace = json!({
        "program": program,
        "torch_version": crate::TORCH_VERSION,
        "device": crate::device::device_name(device),
        "config": config,
    });
    if let (Value::Object(trace), Value::Object(fields)) = (&mut trace, fields) {
        trace.extend(fields);
    }
    trace
}

/// Writes `value` as pretty JSON to `path`, atomically; `-` writes to stdout.
pub fn write_json(path: &str, value: &Value) -> Result<()> {
    if path == "-" {
        let mut out = crate::io::files::stdout();
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
}
