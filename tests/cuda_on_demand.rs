//! CUDA support is loaded at run time, only when asked for, before any other libtorch call.
//!
//! libtorch looks its CUDA hooks up once per process and caches the answer, so each case runs
//! in a process of its own: the test re-runs this test binary with `CUDA_CASE=<name>` and only
//! that case's body runs there, first thing in a fresh process.
mod common;
use common::*;
use lesson_torch::device::{self, DeviceRequest};
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// Runs `body` in a fresh process (this binary, this test alone), and asserts it succeeded.
fn in_fresh_process(case: &str, body: impl FnOnce()) {
    if std::env::var("CUDA_CASE").as_deref() == Ok(case) {
        body();
        return;
    }
    let out = output_within(
        Command::new(std::env::current_exe().unwrap())
            .args([case, "--exact", "--nocapture", "--test-threads", "1"])
            .env("CUDA_CASE", case),
    );
    assert!(
        out.status.success(),
        "case {case} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("1 passed"),
        "case {case} did not run: {}",
        text(&out.stdout)
    );
}

/// The NEEDED entries of a shared library or program.
fn needed(path: &std::path::Path) -> Vec<String> {
    let out = output_within(Command::new("readelf").arg("-d").arg(path));
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_string()))
        .collect()
}

/// The shared libraries mapped into this process whose names contain `part`.
fn mapped(part: &str) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.rsplit('/').next().is_some_and(|n| n.contains(part)))
        .map(str::to_string)
        .collect();
    libs.dedup();
    libs
}

fn no_driver() -> bool {
    !device::nvidia_driver_present()
}

#[test]
fn a_cpu_run_maps_no_cuda_library() {
    in_fresh_process("a_cpu_run_maps_no_cuda_library", || {
        let device = DeviceRequest::parse("cpu").unwrap().resolve().unwrap();
        tch::manual_seed(0);
        let x = Tensor::randn([4, 3], (Kind::Float, device)).set_requires_grad(true);
        x.pow_tensor_scalar(2).sum(Kind::Float).backward();
        assert!(x.grad().defined());
        // PyPI's libtorch_cpu.so itself needs the CUDA runtime and CUPTI (for its profiler,
        // about 5 MB): those are the only CUDA files a CPU run may map.
        let cpu_needs = needed(&root().join(".libtorch/lib/libtorch_cpu.so"));
        for part in [
            "libtorch_cuda",
            "libc10_cuda",
            "libcublas",
            "libcudnn",
            "libnccl",
            "libcusparse",
        ] {
            assert_eq!(mapped(part), Vec::<String>::new(), "{part} is mapped");
        }
        for part in ["libcudart", "libcupti", "libnv"] {
            for lib in mapped(part) {
                let name = lib.rsplit('/').next().unwrap().to_string();
                assert!(
                    cpu_needs.contains(&name),
                    "{lib} is mapped, and libtorch_cpu.so does not need it"
                );
            }
        }
        assert_eq!(mapped("libtorch.so"), Vec::<String>::new());
        assert!(!mapped("libtorch_cpu").is_empty());
        assert!(!device::cuda_support_loaded());
    });
}

#[test]
fn auto_without_a_driver_costs_nothing() {
    if !no_driver() {
        return; // a GPU machine: auto loads CUDA support there, by design
    }
    in_fresh_process("auto_without_a_driver_costs_nothing", || {
        let device = DeviceRequest::parse("auto").unwrap().resolve().unwrap();
        assert_eq!(device, Device::Cpu);
        assert!(mapped("libtorch_cuda").is_empty());
        assert!(!device::cuda_support_loaded());
    });
}

#[test]
fn without_the_load_libtorch_has_no_cudart() {
    in_fresh_process("without_the_load_libtorch_has_no_cudart", || {
        assert!(!tch::utils::has_cudart());
        assert!(!device::cuda_support_loaded());
    });
}

#[test]
fn asking_for_cuda_loads_cuda_support_first() {
    in_fresh_process("asking_for_cuda_loads_cuda_support_first", || {
        let request = DeviceRequest::parse("cuda").unwrap();
        assert_eq!(request, DeviceRequest::Cuda(0));
        // Parsing alone has loaded it, before any other libtorch call.
        assert!(device::cuda_support_loaded());
        assert!(!mapped("libtorch_cuda").is_empty());
        assert_eq!(device::cuda_support(), Ok(()));
        assert!(tch::utils::has_cudart());
        if no_driver() {
            let err = Tensor::f_zeros([1], (Kind::Float, Device::Cuda(0)))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("Found no NVIDIA driver on your system"),
                "{err}"
            );
            let err = request.resolve().unwrap_err().to_string();
            assert!(err.contains("this machine has no CUDA device"), "{err}");
        } else {
            assert_eq!(request.resolve().unwrap(), Device::Cuda(0));
            let t = Tensor::ones([2], (Kind::Float, Device::Cuda(0)));
            assert_eq!(t.sum(Kind::Float).double_value(&[]), 2.0);
        }
    });
}

/// The order is enforced, not lucky: a libtorch query before the load makes the load refuse
/// (libtorch has cached "no CUDA"), and a CUDA device is then refused with that reason.
#[test]
fn a_cuda_query_before_the_load_is_refused() {
    in_fresh_process("a_cuda_query_before_the_load_is_refused", || {
        let _ = tch::Cuda::is_available();
        let err = device::cuda_support().unwrap_err();
        assert!(err.contains("loaded after libtorch's first call"), "{err}");
        let err = DeviceRequest::parse("cuda:0")
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot load CUDA support (") && err.contains("first call"),
            "{err}"
        );
    });
}

/// The same order in the programs: every one parses `--device` before anything else.
#[test]
fn the_programs_load_cuda_support_only_when_asked() {
    let softmax = env!("CARGO_BIN_EXE_softmax");
    let out = run(softmax, &["--epochs", "1", "--device", "cuda"]);
    if no_driver() {
        assert_clean_failure(&out, 1, "no CUDA device", "softmax --device cuda");
        let out = run(softmax, &["--epochs", "1", "--device", "auto"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            "",
            "auto on a machine without a driver is quiet"
        );
    }
    let version = run(softmax, &["--version"]);
    let line = text(&version.stdout);
    assert!(line.starts_with("softmax (lesson_torch "), "{line}");
    assert!(
        line.contains(&format!("libtorch {}", lesson_torch::TORCH_VERSION)),
        "{line}"
    );
    assert!(line.contains("CUDA support: loadable"), "{line}");
}

/// No NEEDED entry of any program names libtorch.so or a CUDA library.
#[test]
fn the_programs_need_only_the_cpu_libraries() {
    let bins = [
        "softmax",
        "autograd_demo",
        "fc_demo",
        "activations",
        "classify",
        "bench",
    ];
    for bin in bins {
        let path = std::path::PathBuf::from(env!("CARGO_BIN_EXE_softmax")).with_file_name(bin);
        let needed = needed(&path);
        assert!(
            needed.iter().any(|n| n == "libtorch_cpu.so"),
            "{bin}: {needed:?}"
        );
        for bad in ["libtorch.so", "libtorch_cuda.so", "libc10_cuda.so"] {
            assert!(
                !needed.iter().any(|n| n == bad),
                "{bin} needs {bad}: {needed:?}"
            );
        }
        let out = output_within(Command::new("readelf").arg("-d").arg(&path));
        let dynamic = text(&out.stdout);
        let runpath = dynamic
            .lines()
            .find(|l| l.contains("(RUNPATH)"))
            .unwrap_or_default();
        assert!(runpath.contains("$ORIGIN/"), "{bin}: {runpath}");
    }
}

/// A program copied with the checkout's layout around it finds libtorch through its
/// `$ORIGIN`-relative RUNPATH entry (the absolute one would name the old place).
#[test]
fn a_moved_checkout_keeps_its_programs_working() {
    let dir = tempfile::TempDir::new().unwrap();
    let moved = dir.path().join("moved");
    let release = moved.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    let libtorch = std::fs::canonicalize(root().join(".libtorch")).unwrap();
    std::os::unix::fs::symlink(&libtorch, moved.join(".libtorch")).unwrap();
    let copy = release.join("softmax");
    // Copied by `cp`, not std::fs::copy: a descriptor open for writing in this (threaded) test
    // process is inherited by any child another test forks meanwhile, and executing the copy
    // then fails with "Text file busy" (ETXTBSY) until that child has exec'd.
    let cp = output_within(
        Command::new("cp")
            .arg(env!("CARGO_BIN_EXE_softmax"))
            .arg(&copy),
    );
    assert!(cp.status.success(), "cp: {}", text(&cp.stderr));
    let out = output_within(
        Command::new(&copy)
            .args(["--epochs", "1"])
            .env("LD_DEBUG", "libs")
            .env_remove("LD_LIBRARY_PATH"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let debug = text(&out.stderr);
    let found = debug
        .lines()
        .find(|l| l.contains("trying file=") && l.contains("libtorch_cpu.so"))
        .unwrap_or_default()
        .to_string();
    assert!(
        found.contains("moved/target/release/../../.libtorch/lib/libtorch_cpu.so"),
        "libtorch_cpu.so first looked for at: {found}"
    );
}
