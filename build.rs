//! Link the binaries against the `.venv`'s libtorch so that they run with no LD_LIBRARY_PATH.
//!
//! torch-sys (`links = "tch"`) hands us its lib dir as DEP_TCH_LIBTORCH_LIB. We bake it in as the rpath
//! (through the stable `.libtorch` link, so a re-run of setup keeps binaries working) and link
//! `libtorch` with `--no-as-needed`: the binaries never reference a CUDA symbol directly, so
//! without it the linker would drop `libtorch_cuda` and CUDA would never load on a GPU machine.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    compile_graph_shim();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch lib dir");
        return;
    };
    let lib = Path::new(&lib);
    if !lib.join("libtorch.so").exists() && !lib.join("libtorch.dylib").exists() {
        eprintln!("error: libtorch not found: run scripts/setup.sh");
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    for name in ["torch", "torch_cpu", "c10"] {
        println!("cargo:rustc-link-arg=-l{name}");
    }
    for name in ["torch_cuda", "c10_cuda"] {
        if lib.join(format!("lib{name}.so")).exists() {
            println!("cargo:rustc-link-arg=-l{name}");
        }
    }
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
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

/// Compiles csrc/graph.cpp, the C++ shim that src/graph.rs reads the autograd graph through,
/// against the same libtorch headers, with the same compiler (CXX, .cargo/config.toml) and the
/// same flags as torch-sys's own shim. It needs only symbols of libtorch_cpu.
fn compile_graph_shim() {
    println!("cargo:rerun-if-changed=csrc/graph.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return; // main says so
    };
    let Some(torch) = Path::new(&lib).parent() else {
        return;
    };
    let include = torch.join("include");
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
        .file("csrc/graph.cpp")
        .compile("lesson_graph");
}
