//! Link the binaries against the `.venv`'s libtorch so that they run with no LD_LIBRARY_PATH,
//! and against its CPU libraries only.
//!
//! torch-sys (`links = "tch"`) hands us its lib dir as DEP_TCH_LIBTORCH_LIB. torch-sys asks for
//! `torch_cuda`, `torch`, `torch_cpu` and `c10`; rustc links with `--as-needed`, and the programs
//! reference no symbol of `libtorch.so` or `libtorch_cuda.so`, so only `libtorch_cpu` and `libc10`
//! end up NEEDED: a CPU run maps no CUDA library. CUDA support is loaded at run time, only when a
//! program is asked for a CUDA device (src/device.rs), from the lib dir we pass on here.
//!
//! The RUNPATH has two entries: the lib dir relative to the binary (`$ORIGIN/../../.libtorch/lib`
//! for `target/release/NAME`, one more `..` for tests in `target/release/deps/`), so that a moved
//! or copied checkout keeps its binaries working, and the absolute path through the stable
//! `.libtorch` link, for a binary copied out of the checkout.
use std::path::{Component, Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch lib dir");
        println!("cargo:rustc-env=LIBTORCH_VERSION=unknown");
        return;
    };
    let lib = Path::new(&lib);
    if !lib.join("libtorch_cpu.so").exists() && !lib.join("libtorch_cpu.dylib").exists() {
        eprintln!(
            "error: libtorch not found in {}: run scripts/setup.sh in lesson_torch's checkout, or set LIBTORCH (docs/library.md)",
            lib.display()
        );
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    for origin in origin_relative(lib) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{origin}");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=LIBTORCH_LIB_DIR={}", lib.display());
    compile_shims(lib);
    // The version of the libtorch we build against, for the trace.
    let version = lib
        .parent()
        .map(|torch| torch.join("version.py"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LIBTORCH_VERSION={version}");
}

/// `$ORIGIN`-relative RUNPATH entries for `lib`, from the profile folder (`target/release`, where
/// the programs are) and from its `deps` folder (tests, benches); none when `lib` is outside the
/// checkout or the target folder cannot be found.
fn origin_relative(lib: &Path) -> Vec<String> {
    let (Ok(out), Ok(manifest)) = (
        std::env::var("OUT_DIR"),
        std::env::var("CARGO_MANIFEST_DIR"),
    ) else {
        return Vec::new();
    };
    // OUT_DIR = <target>/<profile>/build/<crate>-<hash>/out
    let Some(profile) = Path::new(&out).ancestors().nth(3) else {
        return Vec::new();
    };
    // `lib` is `<manifest>/.libtorch/lib` when LIBTORCH is the project's link.
    let Ok(inside) = lib.strip_prefix(&manifest) else {
        return Vec::new();
    };
    let Some(up) = relative(profile, Path::new(&manifest)) else {
        return Vec::new();
    };
    let here = up.join(inside);
    vec![
        format!("$ORIGIN/{}", here.display()),
        format!("$ORIGIN/../{}", here.display()),
    ]
}

/// The path from folder `from` to folder `to`, both absolute (`..` up to their common part).
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let normal = |p: &Path| -> Option<Vec<String>> {
        p.components()
            .map(|c| match c {
                Component::Normal(s) => Some(Some(s.to_string_lossy().into_owned())),
                Component::RootDir => Some(None),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect())
    };
    let (from, to) = (normal(from)?, normal(to)?);
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    Some(path)
}

/// The project's C++ shims (csrc/): the autograd calls tch's C API lacks (backward with
/// grad_tensors, retain_grad) and the reading of the autograd graph (grad_fn, next_functions),
/// compiled against the same libtorch headers, with the same compiler (CXX, .cargo/config.toml)
/// and the same flags as torch-sys's own shim. They need only symbols of libtorch_cpu.
fn compile_shims(lib: &Path) {
    println!("cargo:rerun-if-changed=csrc/autograd.cpp");
    println!("cargo:rerun-if-changed=csrc/graph.cpp");
    println!("cargo:rerun-if-changed=csrc/guarded.h");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let include = lib.parent().unwrap_or(lib).join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/autograd.cpp")
        .file("csrc/graph.cpp")
        .compile("lesson_shims");
}
