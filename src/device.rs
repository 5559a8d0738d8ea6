//! `--device cpu|cuda|cuda:N|auto`, checked against what the machine has.
use anyhow::{bail, Result};
use tch::{Cuda, Device};

/// Checks the spelling of a device name (for clap: a misspelt device is a usage error).
pub fn check_device_name(name: &str) -> std::result::Result<String, String> {
    let valid = matches!(name, "cpu" | "cuda" | "auto")
        || name
            .strip_prefix("cuda:")
            .is_some_and(|i| i.parse::<usize>().is_ok());
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!(
            "unknown device '{name}': expected cpu, cuda, cuda:N or auto"
        ))
    }
}

/// Parses a device name the way `torch.device` does, and fails when the device is not present.
pub fn parse_device(name: &str) -> Result<Device> {
    let count = || Cuda::device_count().max(0) as usize;
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(if count() > 0 {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cuda" => cuda(0, count()),
        _ => match name.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) => cuda(index, count()),
            _ => bail!("unknown device '{name}': expected cpu, cuda, cuda:N or auto"),
        },
    }
}

fn cuda(index: usize, count: usize) -> Result<Device> {
    if count == 0 {
        bail!("device cuda:{index} is not available: this machine has no CUDA device");
    }
    if index >= count {
        bail!("device cuda:{index} is not available: this machine has {count} CUDA device(s)");
    }
    Ok(Device::Cuda(index))
}

/// The name PyTorch prints for a device (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Cpu => "cpu".to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("tpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device 'tpu'"));
        assert!(parse_device("cuda:x").is_err());
        assert!(check_device_name("cuda:1").is_ok());
        assert!(check_device_name("gpu")
            .unwrap_err()
            .contains("unknown device 'gpu'"));
        if Cuda::device_count() == 0 {
            assert_eq!(parse_device("auto").unwrap(), Device::Cpu);
            let err = parse_device("cuda").unwrap_err().to_string();
            assert!(err.contains("no CUDA device"), "{err}");
        }
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }
}
