//! `--device cpu|cuda|cuda:N|auto`, and CUDA support loaded at run time, only when asked for.
//!
//! The binaries link libtorch's CPU libraries only (`libtorch_cpu`, `libc10`): a CPU run maps no
//! CUDA library at all. CUDA lives in `libtorch_cuda.so`, which registers libtorch's CUDA hooks
//! when it is loaded. libtorch looks those hooks up once and caches the answer, so the library
//! must be loaded **before any other libtorch call**: a `manual_seed`, a `Cuda::is_available()`
//! or a `backward()` before it disables CUDA for the rest of the process.
//!
//! The design makes that order hold: the only way to a CUDA [`Device`] is a [`DeviceRequest`],
//! made by clap while it parses `--device` (before a program's body runs at all), and parsing
//! a request for `cuda`, `cuda:N` or `auto` loads the library right there. [`DeviceRequest::resolve`]
//! then checks that the load took effect (libtorch sees CUDART), and refuses otherwise.
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tch::{Cuda, Device};

/// What `--device` asked for, before it is checked against the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// `cpu`: never touches CUDA.
    Cpu,
    /// `cuda` (index 0) or `cuda:N`.
    Cuda(usize),
    /// `auto`: the first CUDA device when there is one, else the CPU.
    Auto,
}

impl DeviceRequest {
    /// Parses a device name (clap's value parser for `--device`: a misspelt device is a usage
    /// error). A request that may use CUDA loads CUDA support here, first of all.
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        let request = match name {
            "cpu" => Self::Cpu,
            "cuda" => Self::Cuda(0),
            "auto" => Self::Auto,
            // Digits only: `cuda:+1` is refused as Python's twin refuses it (usize's parser
            // would take the sign).
            _ => match name
                .strip_prefix("cuda:")
                .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                .map(str::parse::<usize>)
            {
                Some(Ok(index)) => Self::Cuda(index),
                _ => {
                    return Err(format!(
                        "unknown device '{name}': expected cpu, cuda, cuda:N or auto"
                    ))
                }
            },
        };
        match request {
            Self::Cpu => {}
            Self::Cuda(_) => {
                let _ = cuda_support();
            }
            Self::Auto => {
                if nvidia_driver_present() {
                    let _ = cuda_support();
                }
            }
        }
        Ok(request)
    }

    /// The device, checked against the machine: `cuda` without CUDA support or without a GPU is
    /// an error; `auto` falls back to the CPU (and says why on stderr when CUDA support exists
    /// but cannot be loaded).
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(index) => {
                if let Err(why) = cuda_support() {
                    bail!("cannot load CUDA support ({why})");
                }
                let count = Cuda::device_count().max(0) as usize;
                if count == 0 {
                    bail!("device cuda:{index} is not available: this machine has no CUDA device");
                }
                if index >= count {
                    bail!("device cuda:{index} is not available: this machine has {count} CUDA device(s)");
                }
                Ok(Device::Cuda(index))
            }
            Self::Auto => {
                if !nvidia_driver_present() {
                    return Ok(Device::Cpu);
                }
                match cuda_support() {
                    Ok(()) if Cuda::device_count() > 0 => Ok(Device::Cuda(0)),
                    Ok(()) => Ok(Device::Cpu),
                    Err(why) => {
                        eprintln!(
                            "note: --device auto runs on the CPU: cannot load CUDA support ({why})"
                        );
                        Ok(Device::Cpu)
                    }
                }
            }
        }
    }
}

/// Parses a device name the way `torch.device` does, and fails when the device is not present.
/// For a program, clap's parsing of `--device` already did the first half, before anything else.
pub fn parse_device(name: &str) -> Result<Device> {
    DeviceRequest::parse(name)
        .map_err(anyhow::Error::msg)?
        .resolve()
}

/// The name PyTorch prints for a device (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Cpu => "cpu".to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Whether an NVIDIA driver is installed (the kernel module's version file). Without one, CUDA
/// cannot work, and `auto` does not pay for loading CUDA support.
pub fn nvidia_driver_present() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
}

/// The file libtorch's CUDA support lives in.
pub const CUDA_LIBRARY: &str = "libtorch_cuda.so";

/// The lib folder of the libtorch this crate was built against (through the `.libtorch` link).
const BUILD_LIB_DIR: &str = env!("LIBTORCH_LIB_DIR");

/// Loads libtorch's CUDA support once per process, and keeps it loaded for the life of the
/// process. The first call does the work; later calls return its outcome (the error as text).
pub fn cuda_support() -> std::result::Result<(), String> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(load_cuda_support).clone()
}

/// Whether CUDA support has been loaded in this process (without trying to load it).
pub fn cuda_support_loaded() -> bool {
    ffi::loaded()
}

/// Where `libtorch_cuda.so` is looked for, in order: beside the `libtorch_cpu.so` this process
/// actually runs (so the two always match), in the lib folder known at build time, then by name
/// through the dynamic linker's search path (the binary's RUNPATH, `LD_LIBRARY_PATH`).
pub fn cuda_library_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = mapped_libtorch_dir() {
        candidates.push(dir.join(CUDA_LIBRARY));
    }
    let built = Path::new(BUILD_LIB_DIR).join(CUDA_LIBRARY);
    if !candidates.contains(&built) {
        candidates.push(built);
    }
    candidates.push(PathBuf::from(CUDA_LIBRARY));
    candidates
}

fn load_cuda_support() -> std::result::Result<(), String> {
    let mut last_error = String::new();
    for candidate in cuda_library_candidates() {
        if candidate.is_absolute() && !candidate.exists() {
            continue;
        }
        match ffi::load(&candidate) {
            Ok(()) => {
                last_error.clear();
                break;
            }
            Err(e) => last_error = e,
        }
    }
    if !ffi::loaded() {
        if last_error.is_empty() {
            last_error = format!("{CUDA_LIBRARY} not found");
        }
        return Err(last_error);
    }
    // The hooks are looked up once per process: if libtorch was used before this load, it has
    // cached "no CUDA" and the library, although loaded, will never be used. Refuse loudly.
    if !tch::utils::has_cudart() {
        return Err(format!(
            "{CUDA_LIBRARY} was loaded after libtorch's first call, so libtorch will not use it: \
             CUDA support must be loaded before anything else (parse --device first)"
        ));
    }
    Ok(())
}

/// The folder of the `libtorch_cpu.so` mapped into this process, read from `/proc/self/maps`
/// (no libtorch call: this runs before the first one).
pub fn mapped_libtorch_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(Path::new)
        .find(|p| p.file_name().is_some_and(|n| n == "libtorch_cpu.so"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

/// The libtorch version this process runs on: `version.py` of the torch package whose
/// `libtorch_cpu.so` is mapped, else the version built against.
pub fn runtime_torch_version() -> String {
    mapped_libtorch_dir()
        .and_then(|lib| lib.parent().map(|t| t.join("version.py")))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
        .unwrap_or_else(|| crate::TORCH_VERSION.to_string())
}

/// The loading of the shared library: `dlopen` with `RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE`
/// (libtorch_cuda's symbols serve the libraries loaded after it, and it is never unloaded), the
/// handle kept for the life of the process.
mod ffi {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    use std::path::Path;
    use std::sync::OnceLock;

    static HANDLE: OnceLock<Library> = OnceLock::new();

    pub(super) fn loaded() -> bool {
        HANDLE.get().is_some()
    }

    pub(super) fn load(path: &Path) -> Result<(), String> {
        let flags = RTLD_NOW | RTLD_GLOBAL | libc::RTLD_NODELETE;
        // SAFETY: loading libtorch_cuda runs its static initialisers, which register libtorch's
        // CUDA hooks and allocators; they are designed to run at load time, in any thread, and
        // touch no Rust state. The handle is stored for the life of the process.
        let library = unsafe { Library::open(Some(path), flags) }.map_err(|e| {
            let text = e.to_string();
            text.strip_prefix("dlopen failed: ")
                .unwrap_or(&text)
                .to_string()
        })?;
        let _ = HANDLE.set(library);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors() {
        assert_eq!(DeviceRequest::parse("cpu").unwrap(), DeviceRequest::Cpu);
        assert_eq!(
            DeviceRequest::parse("cuda:3").unwrap(),
            DeviceRequest::Cuda(3)
        );
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("tpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device 'tpu'"));
        assert!(parse_device("cuda:x").is_err());
        assert!(DeviceRequest::parse("gpu")
            .unwrap_err()
            .contains("unknown device 'gpu'"));
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }

    #[test]
    fn the_cuda_library_is_looked_for_beside_the_running_libtorch_first() {
        let candidates = cuda_library_candidates();
        let mapped = mapped_libtorch_dir().expect("libtorch_cpu.so is mapped");
        assert_eq!(candidates[0], mapped.join(CUDA_LIBRARY));
        assert_eq!(candidates.last().unwrap(), Path::new(CUDA_LIBRARY));
        assert_eq!(runtime_torch_version(), crate::TORCH_VERSION);
    }
}
