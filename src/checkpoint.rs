//! Checkpoints of a linear layer in safetensors, with the names of PyTorch's `nn.Linear`
//! state_dict (`weight`, `bias`), so that `model.load_state_dict(safetensors.torch.load_file(p))`
//! reads what we write and we read what it writes. Only safetensors: no pickle anywhere.
//!
//! Reading is careful: the file's size is checked against what a `Linear(in, out)` needs before
//! anything is read, and the header (names, dtypes, shapes, offsets) before any tensor is made,
//! so a hostile or broken file gives a clear error, never a huge allocation.
use crate::linear::Linear;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The most header bytes we accept: a two-tensor header is a few hundred bytes.
const MAX_HEADER: u64 = 64 * 1024;

fn f32_bytes(t: &Tensor) -> Vec<u8> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let values = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap_or_default();
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `weight` and `bias` to `path` (temp file + rename).
pub fn save(path: &Path, layer: &Linear) -> Result<()> {
    let (w, b) = (f32_bytes(&layer.weight), f32_bytes(&layer.bias));
    let shape = |t: &Tensor| t.size().iter().map(|&d| d as usize).collect::<Vec<_>>();
    let views = vec![
        ("bias", TensorView::new(Dtype::F32, shape(&layer.bias), &b)?),
        (
            "weight",
            TensorView::new(Dtype::F32, shape(&layer.weight), &w)?,
        ),
    ];
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    let bytes = safetensors::tensor::serialize(views, &metadata)
        .context("cannot serialise the checkpoint")?;
    crate::trace::write_atomic(path, |f| Ok(f.write_all(&bytes)?))
}

/// Reads a `Linear(in_features, out_features)` checkpoint from `path` onto `device`.
pub fn load(path: &Path, in_features: i64, out_features: i64, device: Device) -> Result<Linear> {
    let shown = path.display();
    let expected = [
        ("weight", vec![out_features as usize, in_features as usize]),
        ("bias", vec![out_features as usize]),
    ];
    let data_bytes: u64 = expected
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() as u64 * 4)
        .sum();
    // A regular file only (not a FIFO or /dev/zero), and no larger than such a layer needs.
    let buffer = crate::trace::read_regular(path, 8 + MAX_HEADER + data_bytes, "checkpoint")?;
    let size = buffer.len();
    if size < 8 {
        bail!("checkpoint {shown} is not a safetensors file: {size} bytes, too short for a header");
    }
    let tensors = SafeTensors::deserialize(&buffer).map_err(|e| {
        anyhow::anyhow!("checkpoint {shown} is not a valid safetensors file ({e:?})")
    })?;
    let mut names: Vec<String> = tensors.names().into_iter().cloned().collect();
    names.sort();
    if names != ["bias", "weight"] {
        bail!("checkpoint {shown} holds tensors {names:?}, expected exactly \"weight\" and \"bias\" (nn.Linear's state_dict)");
    }
    let mut loaded = Vec::new();
    for (name, shape) in &expected {
        let view = tensors
            .tensor(name)
            .map_err(|e| anyhow::anyhow!("checkpoint {shown}: {name}: {e:?}"))?;
        if view.dtype() != Dtype::F32 {
            bail!(
                "checkpoint {shown}: {name} is {:?}, expected F32",
                view.dtype()
            );
        }
        if view.shape() != shape.as_slice() {
            bail!("checkpoint {shown}: {name} has shape {:?}, expected {:?} for Linear({in_features}, {out_features})", view.shape(), shape);
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        loaded.push(
            Tensor::from_slice(&values)
                .view(dims.as_slice())
                .to_device(device),
        );
    }
    let bias = loaded.pop().expect("two tensors");
    let weight = loaded.pop().expect("two tensors");
    Ok(Linear::from_parameters(weight, bias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let dir = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        tch::manual_seed(1);
        let layer = Linear::new(3, 2, Device::Cpu);
        save(&path, &layer).unwrap();
        let back = load(&path, 3, 2, Device::Cpu).unwrap();
        assert!(back.weight.detach().equal(&layer.weight.detach()));
        assert!(back.bias.detach().equal(&layer.bias.detach()));
        assert!(back.weight.requires_grad() && back.weight.is_leaf());
        let err = load(&path, 4, 2, Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load(&path, 3, 2, Device::Cpu)
            .unwrap_err()
            .to_string()
            .contains("not a valid safetensors"));
        std::fs::write(&path, b"PK\x03\x04 a zip, not safetensors").unwrap();
        assert!(load(&path, 3, 2, Device::Cpu).is_err());
        // A header claiming an enormous size is refused before anything is allocated.
        let mut hostile = (u64::MAX / 2).to_le_bytes().to_vec();
        hostile.extend_from_slice(b"{}");
        std::fs::write(&path, &hostile).unwrap();
        assert!(load(&path, 3, 2, Device::Cpu).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
