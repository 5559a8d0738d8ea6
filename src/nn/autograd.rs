//! `torch.autograd.backward` and `torch.autograd.grad`, with every argument the lesson names.
//!
//! tch's `Tensor::backward()` passes `retain_graph = false, create_graph = false`, no gradient,
//! and panics on a libtorch error. Here [`backward`] calls libtorch's own
//! `torch::autograd::backward(tensors, grad_tensors, retain_graph, create_graph)` (through
//! csrc/autograd.cpp, since tch's C API has no call that takes grad_tensors): every flag is the
//! caller's, the grad tensors seed the engine exactly as in PyTorch (including, with
//! `create_graph`, their own dependence on other tensors), and errors come back as `Err`.
use anyhow::{bail, Result};
use tch::Tensor;

/// The only `unsafe` of the crate: the calls into libtorch, through tch's C API and through
/// csrc/autograd.cpp.
mod ffi {
    use std::os::raw::{c_char, c_int};
    use tch::Tensor;

    extern "C" {
        fn lesson_autograd_backward(
            tensors: *const *mut torch_sys::C_tensor,
            grad_tensors: *const *mut torch_sys::C_tensor,
            n: c_int,
            retain_graph: c_int,
            create_graph: c_int,
        ) -> *mut c_char;
        fn lesson_retain_grad(tensor: *mut torch_sys::C_tensor) -> *mut c_char;
        fn lesson_grad(
            tensor: *mut torch_sys::C_tensor,
            out: *mut *mut torch_sys::C_tensor,
        ) -> *mut c_char;
    }

    /// Takes the shim's result: null for success, else a message from `strdup` that we free.
    ///
    /// SAFETY: `err` is null or a NUL-terminated string from `strdup`, owned by us.
    unsafe fn take(err: *mut c_char) -> Result<(), String> {
        if err.is_null() {
            return Ok(());
        }
        let message = std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned();
        libc::free(err as *mut libc::c_void);
        Err(message)
    }

    /// `torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph)`; a `None`
    /// grad tensor is the implicit 1 of a one-element output.
    pub(super) fn backward(
        tensors: &[&Tensor],
        grad_tensors: &[Option<&Tensor>],
        retain_graph: bool,
        create_graph: bool,
    ) -> Result<(), String> {
        assert_eq!(tensors.len(), grad_tensors.len());
        let outputs: Vec<*mut torch_sys::C_tensor> = tensors
            .iter()
            .map(|t| t.as_ptr() as *mut torch_sys::C_tensor)
            .collect();
        let grads: Vec<*mut torch_sys::C_tensor> = grad_tensors
            .iter()
            .map(|g| g.map_or(std::ptr::null_mut(), |g| g.as_ptr() as *mut _))
            .collect();
        // SAFETY: both arrays hold `n` pointers to tensors that live for the duration of the
        // call (or null grads); the shim copies the handles (reference counted) and catches every
        // C++ exception, returning its message.
        unsafe {
            take(lesson_autograd_backward(
                outputs.as_ptr(),
                grads.as_ptr(),
                outputs.len() as c_int,
                retain_graph as c_int,
                create_graph as c_int,
            ))
        }
    }

    /// `tensor.retain_grad()`.
    pub(super) fn retain_grad(tensor: &Tensor) -> Result<(), String> {
        // SAFETY: `tensor` is live for the call; the shim catches every C++ exception.
        unsafe { take(lesson_retain_grad(tensor.as_ptr() as *mut _)) }
    }

    /// `tensor.grad`, without libtorch's warning for a non-leaf.
    pub(super) fn grad(tensor: &Tensor) -> Result<Tensor, String> {
        let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
        // SAFETY: `tensor` is live for the call; on success the shim stores in `out` a new
        // heap-allocated tensor handle, which `Tensor::from_ptr` takes ownership of (and frees).
        unsafe {
            take(lesson_grad(tensor.as_ptr() as *mut _, &mut out))?;
            Ok(Tensor::from_ptr(out))
        }
    }
}

fn shape_string(t: &Tensor) -> String {
    let dims: Vec<String> = t.size().iter().map(|d| d.to_string()).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// The first line of a libtorch error message, without its C++ backtrace.
pub(crate) fn first_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("autograd error")
        .to_string()
}

/// `torch.autograd.backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False)`.
///
/// - `grad_tensors`: one weight per tensor (`None` means 1 for one-element tensors);
/// - `retain_graph`: keep the graph for another pass; `None` means `create_graph`;
/// - `create_graph`: record the backward pass itself, for higher-order derivatives.
///
/// Gradients accumulate into the leaves' `.grad`, as in PyTorch. The grad tensors are handed to
/// libtorch's engine as they are, so with `create_graph` a grad tensor that itself requires grad
/// keeps its dependence, exactly as `torch.autograd.backward` does: `x.grad = H v` from
/// `backward([g], [v], create_graph=True)` with `g = grad(f, x, create_graph=True)` is a function
/// of `v` too (a Hessian-vector product that can be differentiated again), and `v.grad` is left
/// alone.
///
/// # Example
///
/// The lesson's graph, `y = (w + x) * (w + 1)`:
///
/// ```
/// use lesson_torch::nn::autograd::backward;
/// use tch::Tensor;
///
/// let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true); // torch.tensor([1.], requires_grad=True)
/// let x = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
/// let a = &w + &x; // torch.add(w, x)
/// let b = &w + Tensor::from(1.0f32); // torch.add(w, 1)
/// let y = &a * &b; // torch.mul(a, b)
/// backward(&[&y], None, Some(true), false)?; // y.backward(retain_graph=True)
/// assert_eq!(w.grad().double_value(&[0]), 5.0); // dy/dw = (w + 1) + (w + x)
/// assert_eq!(x.grad().double_value(&[0]), 2.0); // dy/dx = w + 1
///
/// // Gradients accumulate; without retain_graph the graph is freed after this pass.
/// backward(&[&y], None, None, false)?;
/// assert_eq!(w.grad().double_value(&[0]), 10.0);
/// // A third pass: libtorch's error, as a value (tch's Tensor::backward() would panic).
/// let err = backward(&[&y], None, None, false).unwrap_err();
/// assert!(err.to_string().contains("backward through the graph a second time"));
///
/// // grad_tensors weight two outputs, y0 = a * b and y1 = a + b:
/// // torch.autograd.backward([y0, y1], grad_tensors=[torch.tensor([1.]), torch.tensor([2.])])
/// let (w, x) = (w.detach().set_requires_grad(true), x.detach().set_requires_grad(true));
/// let (a, b) = (&w + &x, &w + Tensor::from(1.0f32));
/// let (y0, y1) = (&a * &b, &a + &b);
/// let (g0, g1) = (Tensor::from_slice(&[1.0f32]), Tensor::from_slice(&[2.0f32]));
/// // One weight for two outputs: PyTorch's RuntimeError, in its words.
/// let err = backward(&[&y0, &y1], Some(&[&g0]), None, false).unwrap_err();
/// assert_eq!(err.to_string(), "got 2 tensors and 1 gradients");
/// backward(&[&y0, &y1], Some(&[&g0, &g1]), None, false)?;
/// assert_eq!(w.grad().double_value(&[0]), 9.0); // 1·5 + 2·2
/// assert_eq!(x.grad().double_value(&[0]), 4.0); // 1·2 + 2·1
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn backward(
    tensors: &[&Tensor],
    grad_tensors: Option<&[&Tensor]>,
    retain_graph: Option<bool>,
    create_graph: bool,
) -> Result<()> {
    let retain_graph = retain_graph.unwrap_or(create_graph);
    if tensors.is_empty() {
        bail!("backward: no tensors to differentiate");
    }
    if let Some(grads) = grad_tensors {
        if grads.len() != tensors.len() {
            // PyTorch's words (torch/autograd/__init__.py _make_grads).
            bail!(
                "got {} tensors and {} gradients",
                tensors.len(),
                grads.len()
            );
        }
    }
    for (i, t) in tensors.iter().enumerate() {
        if !t.requires_grad() {
            bail!("element {i} of tensors does not require grad and does not have a grad_fn");
        }
        match grad_tensors.map(|g| g[i]) {
            Some(g) if g.size() != t.size() => bail!(
                "Mismatch in shape: grad_output[{i}] has a shape of {} and output[{i}] has a shape of {}.",
                shape_string(g),
                shape_string(t)
            ),
            None if t.numel() != 1 => bail!("grad can be implicitly created only for scalar outputs"),
            _ => {}
        }
    }
    let grads: Vec<Option<&Tensor>> = (0..tensors.len())
        .map(|i| grad_tensors.map(|g| g[i]))
        .collect();
    ffi::backward(tensors, &grads, retain_graph, create_graph)
        .map_err(|m| anyhow::anyhow!(first_line(&m)))
}

/// `tensor.grad` as Python reads it, leaf or not: an undefined tensor where Python has `None`.
/// Unlike tch's `Tensor::grad()`, it prints no warning for a non-leaf (libtorch's C++ warning
/// goes to stderr; `scripts/reference.py` silences Python's likewise).
///
/// ```
/// use lesson_torch::nn::autograd::{grad_of, retain_grad};
/// use tch::Tensor;
///
/// let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
/// let a = &w * 2.0;
/// let b = &w * 3.0;
/// retain_grad(&a)?; // a.retain_grad()
/// (&a * &b).backward();
/// assert_eq!(grad_of(&a)?.double_value(&[0]), 3.0); // a.grad = b
/// assert!(!grad_of(&b)?.defined()); // b.grad is None, and no warning is printed
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn grad_of(tensor: &Tensor) -> Result<Tensor> {
    ffi::grad(tensor).map_err(|m| anyhow::anyhow!(first_line(&m)))
}

/// `tensor.retain_grad()`: a non-leaf keeps its `.grad` after the next backward pass.
pub fn retain_grad(tensor: &Tensor) -> Result<()> {
    ffi::retain_grad(tensor).map_err(|m| anyhow::anyhow!(first_line(&m)))
}

/// `tensor.backward(retain_graph=...)` for a one-element tensor.
///
/// ```
/// let x = tch::Tensor::from_slice(&[3.0f32]).set_requires_grad(true);
/// let y = &x * &x;
/// lesson_torch::nn::autograd::backward_scalar(&y, true)?; // y.backward(retain_graph=True)
/// lesson_torch::nn::autograd::backward_scalar(&y, false)?; // and once more
/// assert_eq!(x.grad().double_value(&[0]), 12.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn backward_scalar(tensor: &Tensor, retain_graph: bool) -> Result<()> {
    backward(&[tensor], None, Some(retain_graph), false)
}

/// `torch.autograd.grad(outputs, inputs, retain_graph=None, create_graph=False)` for one-element
/// outputs: the gradients are returned, not accumulated into `.grad`.
///
/// # Example
///
/// The lesson's `create_graph` (创建导数计算图): the derivatives of `y = x³` at 2.
///
/// ```
/// use lesson_torch::nn::autograd::grad;
/// use tch::Tensor;
///
/// let x = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
/// let y = &x * &x * &x;
/// let d1 = grad(&[&y], &[&x], true)?.remove(0); // torch.autograd.grad(y, x, create_graph=True)
/// let d2 = grad(&[&d1], &[&x], true)?.remove(0);
/// let d3 = grad(&[&d2], &[&x], false)?.remove(0);
/// let values: Vec<f64> = [&d1, &d2, &d3].iter().map(|d| d.double_value(&[0])).collect();
/// assert_eq!(values, [12.0, 12.0, 6.0]); // 3x², 6x, 6
/// assert!(!x.grad().defined()); // nothing accumulated into x.grad
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn grad(outputs: &[&Tensor], inputs: &[&Tensor], create_graph: bool) -> Result<Vec<Tensor>> {
    Tensor::f_run_backward(outputs, inputs, create_graph, create_graph)
        .map_err(|e| anyhow::anyhow!(crate::torch_message(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f32) -> Tensor {
        Tensor::from_slice(&[v]).set_requires_grad(true)
    }

    fn value(t: &Tensor) -> f64 {
        t.double_value(&[0])
    }

    #[test]
    fn lesson_graph_and_accumulation() {
        let (w, x) = (scalar(1.0), scalar(2.0));
        let a = &w + &x;
        let b = &w + 1;
        let y = &a * &b;
        backward(&[&y], None, Some(true), false).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (5.0, 2.0));
        backward(&[&y], None, None, false).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (10.0, 4.0));
        // The graph is freed now: a third pass fails with libtorch's message, as an Err.
        let err = backward(&[&y], None, None, false).unwrap_err().to_string();
        assert!(
            err.contains("backward through the graph a second time"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn grad_tensors_weight_the_outputs() {
        let (w, x) = (scalar(1.0), scalar(2.0));
        let a = &w + &x;
        let b = &w + 1;
        let (y0, y1) = (&a * &b, &a + &b);
        let weights = Tensor::from_slice(&[1.0f32, 2.0]);
        let (g0, g1) = (weights.narrow(0, 0, 1), weights.narrow(0, 1, 1));
        backward(&[&y0, &y1], Some(&[&g0, &g1]), None, false).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (9.0, 4.0));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = scalar(2.0);
        let v = &x * Tensor::from_slice(&[1.0f32, 2.0]);
        let err = backward(&[&v], None, None, false).unwrap_err().to_string();
        assert!(err.contains("implicitly created only for scalar outputs"));
        let g = Tensor::from_slice(&[1.0f32]);
        let err = backward(&[&v], Some(&[&g]), None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Mismatch in shape"), "{err}");
        let c = Tensor::from_slice(&[1.0f32]);
        assert!(backward(&[&c], None, None, false).is_err());
    }

    #[test]
    fn backward_with_create_graph_gives_a_differentiable_grad() {
        let x = scalar(2.0);
        let y = x.pow_tensor_scalar(3);
        backward(&[&y], None, None, true).unwrap();
        let d1 = x.grad();
        assert_eq!(value(&d1), 12.0);
        assert!(d1.requires_grad(), "create_graph records the backward pass");
        let d2 = grad(&[&d1], &[&x], false).unwrap().remove(0);
        assert_eq!(value(&d2), 12.0);
        // Without create_graph the gradient is a plain value.
        let z = scalar(2.0);
        backward(&[&z.pow_tensor_scalar(3)], None, None, false).unwrap();
        assert!(!z.grad().requires_grad());
    }

    #[test]
    fn higher_order_derivatives() {
        let x = scalar(2.0);
        let y = x.pow_tensor_scalar(3);
        let d1 = grad(&[&y], &[&x], true).unwrap().remove(0);
        let d2 = grad(&[&d1], &[&x], true).unwrap().remove(0);
        let d3 = grad(&[&d2], &[&x], false).unwrap().remove(0);
        assert_eq!((value(&d1), value(&d2), value(&d3)), (12.0, 12.0, 6.0));
    }
}
