//! The one thing a dependent needs beyond Cargo.toml: a RUNPATH to libtorch's lib folder, so
//! that its binaries start with no LD_LIBRARY_PATH. torch-sys reports the folder it linked.
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
