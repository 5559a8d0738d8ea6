//! `torch.autograd.backward` and `torch.autograd.grad`, with every argument the lesson names.
//!
//! tch's `Tensor::backward()` passes `retain_graph = false, create_graph = false`, no gradient,
//! and panics on a libtorch error. Here [`backward`] and [`grad`] call libtorch's own
//! `torch::autograd::backward` and `torch::autograd::grad` (through csrc/autograd.cpp, since
//! tch's C API has no call that takes grad tensors or `allow_unused`) with PyTorch's keyword
//! arguments, named ([`Backward`], [`Grad`]): the grad tensors seed the engine exactly as in
//! PyTorch (including, with `create_graph`, their own dependence on other tensors), libtorch's
//! warnings are kept for [`take_warnings`] instead of printed, and errors come back as `Err`,
//! in PyTorch's words.
//!
//! Errors are `anyhow::Error`, as everywhere in the crate: a caller gets PyTorch's message as
//! the error's text (what a Python user reads in the `RuntimeError`), and no caller so far needs
//! to tell one autograd error from another by type; a typed error (`thiserror`) would add a
//! dependency and variants that mirror libtorch's free-form messages without making them more
//! useful.
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
            inputs: *const *mut torch_sys::C_tensor,
            n_inputs: c_int,
            warnings: *mut *mut c_char,
        ) -> *mut c_char;
        fn lesson_autograd_grad(
            outputs: *const *mut torch_sys::C_tensor,
            grad_outputs: *const *mut torch_sys::C_tensor,
            n: c_int,
            inputs: *const *mut torch_sys::C_tensor,
            n_inputs: c_int,
            retain_graph: c_int,
            create_graph: c_int,
            allow_unused: c_int,
            results: *mut *mut torch_sys::C_tensor,
            warnings: *mut *mut c_char,
        ) -> *mut c_char;
        fn lesson_retain_grad(tensor: *mut torch_sys::C_tensor) -> *mut c_char;
        fn lesson_grad(
            tensor: *mut torch_sys::C_tensor,
            out: *mut *mut torch_sys::C_tensor,
        ) -> *mut c_char;
    }

    /// Takes a string the shim made with `strdup` (or null): its text, freed.
    ///
    /// SAFETY: `text` is null or a NUL-terminated string from `strdup`, owned by us.
    unsafe fn owned_text(text: *mut c_char) -> Option<String> {
        if text.is_null() {
            return None;
        }
        let message = std::ffi::CStr::from_ptr(text)
            .to_string_lossy()
            .into_owned();
        libc::free(text as *mut libc::c_void);
        Some(message)
    }

    /// Takes the shim's result: null for success, else the error message.
    ///
    /// SAFETY: as [`owned_text`].
    unsafe fn take(err: *mut c_char) -> Result<(), String> {
        owned_text(err).map_or(Ok(()), Err)
    }

    fn pointers(tensors: &[Option<&Tensor>]) -> Vec<*mut torch_sys::C_tensor> {
        tensors
            .iter()
            .map(|t| t.map_or(std::ptr::null_mut(), |t| t.as_ptr() as *mut _))
            .collect()
    }

    fn all(tensors: &[&Tensor]) -> Vec<*mut torch_sys::C_tensor> {
        tensors.iter().map(|t| t.as_ptr() as *mut _).collect()
    }

    /// `torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)`; a
    /// `None` grad tensor is the implicit 1 of a one-element output. Returns libtorch's warnings.
    pub(super) fn backward(
        tensors: &[&Tensor],
        grad_tensors: &[Option<&Tensor>],
        retain_graph: bool,
        create_graph: bool,
        inputs: &[&Tensor],
    ) -> Result<Option<String>, String> {
        assert_eq!(tensors.len(), grad_tensors.len());
        let (outputs, grads, inputs) = (all(tensors), pointers(grad_tensors), all(inputs));
        let mut warnings: *mut c_char = std::ptr::null_mut();
        // SAFETY: the arrays hold pointers to tensors that live for the duration of the call (or
        // null grads); the shim copies the handles (reference counted), catches every C++
        // exception, and sets `warnings` to null or a string from strdup.
        unsafe {
            let result = take(lesson_autograd_backward(
                outputs.as_ptr(),
                grads.as_ptr(),
                outputs.len() as c_int,
                retain_graph as c_int,
                create_graph as c_int,
                inputs.as_ptr(),
                inputs.len() as c_int,
                &mut warnings,
            ));
            let warnings = owned_text(warnings);
            result.map(|()| warnings)
        }
    }

    /// `torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
    /// allow_unused)`: one tensor per input (undefined for an unused one), and the warnings.
    pub(super) fn grad_of_inputs(
        outputs: &[&Tensor],
        grad_outputs: &[Option<&Tensor>],
        inputs: &[&Tensor],
        (retain_graph, create_graph, allow_unused): (bool, bool, bool),
    ) -> Result<(Vec<Tensor>, Option<String>), String> {
        assert_eq!(outputs.len(), grad_outputs.len());
        let (outs, grads, ins) = (all(outputs), pointers(grad_outputs), all(inputs));
        let mut results: Vec<*mut torch_sys::C_tensor> = vec![std::ptr::null_mut(); ins.len()];
        let mut warnings: *mut c_char = std::ptr::null_mut();
        // SAFETY: as in `backward`; on success the shim stores in `results` one new
        // heap-allocated handle per input, each taken over by `Tensor::from_ptr` (which frees it).
        unsafe {
            let result = take(lesson_autograd_grad(
                outs.as_ptr(),
                grads.as_ptr(),
                outs.len() as c_int,
                ins.as_ptr(),
                ins.len() as c_int,
                retain_graph as c_int,
                create_graph as c_int,
                allow_unused as c_int,
                results.as_mut_ptr(),
                &mut warnings,
            ));
            let warnings = owned_text(warnings);
            result?;
            let tensors = results.into_iter().map(|p| Tensor::from_ptr(p)).collect();
            Ok((tensors, warnings))
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

thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn keep_warnings(text: Option<String>) {
    if let Some(text) = text {
        WARNINGS.with(|w| w.borrow_mut().extend(text.lines().map(str::to_string)));
    }
}

/// The warnings libtorch gave during this thread's [`backward`] and [`grad`] calls since the
/// last call of this function, oldest first (Python's `warnings.catch_warnings(record=True)`).
/// libtorch would print them to stderr with a timestamp; they are kept here instead, and
/// nothing is printed.
///
/// ```
/// use lesson_torch::nn::autograd::{backward, take_warnings, Backward};
///
/// let x = tch::Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
/// let y = x.pow_tensor_scalar(3);
/// backward(&[&y], Backward::new().create_graph(true))?; // y.backward(create_graph=True)
/// let warnings = take_warnings();
/// assert!(warnings[0].starts_with("Using backward() with create_graph=True will create a reference cycle"));
/// assert!(take_warnings().is_empty());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// The keyword arguments of `torch.autograd.backward`, PyTorch's defaults from
/// [`Backward::new`]: `Backward::new().retain_graph(true)` is `retain_graph=True`.
#[derive(Clone, Debug, Default)]
pub struct Backward<'a> {
    grad_tensors: Option<Vec<Option<&'a Tensor>>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    inputs: Vec<&'a Tensor>,
}

impl<'a> Backward<'a> {
    /// `grad_tensors=None, retain_graph=None, create_graph=False, inputs=None`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `grad_tensors=[...]`: one weight per output, or `None` for the implicit 1 of a
    /// one-element output; plain `&Tensor`s work too (`[&g0, &g1]`).
    pub fn grad_tensors<I, T>(mut self, grad_tensors: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Option<&'a Tensor>>,
    {
        self.grad_tensors = Some(grad_tensors.into_iter().map(Into::into).collect());
        self
    }

    /// `retain_graph=...`: keep the graph for another pass (by default, `create_graph`'s value).
    pub fn retain_graph(mut self, retain_graph: bool) -> Self {
        self.retain_graph = Some(retain_graph);
        self
    }

    /// `create_graph=...`: record the backward pass itself, for higher-order derivatives.
    pub fn create_graph(mut self, create_graph: bool) -> Self {
        self.create_graph = create_graph;
        self
    }

    /// `inputs=[...]`: accumulate into these tensors' `.grad` only (by default, every leaf).
    pub fn inputs(mut self, inputs: &[&'a Tensor]) -> Self {
        self.inputs = inputs.to_vec();
        self
    }
}

/// PyTorch's checks of `tensors` and their gradients, in its words: one gradient per tensor,
/// of the tensor's shape, and `None` only for a one-element tensor. Returns each tensor's
/// gradient (`None`: the implicit 1), as the shim takes them.
fn gradients<'a>(
    tensors: &[&Tensor],
    grads: &Option<Vec<Option<&'a Tensor>>>,
    call: &str,
) -> Result<Vec<Option<&'a Tensor>>> {
    if tensors.is_empty() {
        bail!("{call}: no tensors to differentiate");
    }
    if let Some(g) = grads {
        if g.len() != tensors.len() {
            // PyTorch's words (torch/autograd/__init__.py _make_grads).
            bail!("got {} tensors and {} gradients", tensors.len(), g.len());
        }
    }
    for (i, t) in tensors.iter().enumerate() {
        if !t.requires_grad() {
            bail!("element {i} of tensors does not require grad and does not have a grad_fn");
        }
        match grads.as_ref().and_then(|g| g[i]) {
            Some(g) if g.size() != t.size() => bail!(
                "Mismatch in shape: grad_output[{i}] has a shape of {} and output[{i}] has a shape of {}.",
                shape_string(g),
                shape_string(t)
            ),
            None if t.numel() != 1 => bail!("grad can be implicitly created only for scalar outputs"),
            _ => {}
        }
    }
    Ok((0..tensors.len())
        .map(|i| grads.as_ref().and_then(|g| g[i]))
        .collect())
}

/// `torch.autograd.backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
/// inputs=None)`, its keyword arguments in a [`Backward`].
///
/// Gradients accumulate into the leaves' `.grad` (or only into `inputs`'), as in PyTorch. The
/// grad tensors are handed to libtorch's engine as they are, so with `create_graph` a grad
/// tensor that itself requires grad keeps its dependence, exactly as `torch.autograd.backward`
/// does: `x.grad = H v` from `backward([g], [v], create_graph=True)` with
/// `g = grad(f, x, create_graph=True)` is a function of `v` too, and `v.grad` is left alone.
/// libtorch's warnings are kept for [`take_warnings`], not printed; its errors come back as
/// `Err`, in PyTorch's words (tch's `Tensor::backward()` would panic).
///
/// # Example
///
/// The lesson's graph, `y = (w + x) * (w + 1)`:
///
/// ```
/// use lesson_torch::nn::autograd::{backward, Backward};
/// use tch::Tensor;
///
/// let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true); // torch.tensor([1.], requires_grad=True)
/// let x = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
/// let a = &w + &x; // torch.add(w, x)
/// let b = &w + Tensor::from(1.0f32); // torch.add(w, 1)
/// let y = &a * &b; // torch.mul(a, b)
/// backward(&[&y], Backward::new().retain_graph(true))?; // y.backward(retain_graph=True)
/// assert_eq!(w.grad().double_value(&[0]), 5.0); // dy/dw = (w + 1) + (w + x)
/// assert_eq!(x.grad().double_value(&[0]), 2.0); // dy/dx = w + 1
///
/// // Gradients accumulate; without retain_graph the graph is freed after this pass.
/// backward(&[&y], Backward::new())?;
/// assert_eq!(w.grad().double_value(&[0]), 10.0);
/// // A third pass: libtorch's error, as a value.
/// let err = backward(&[&y], Backward::new()).unwrap_err();
/// assert!(err.to_string().contains("backward through the graph a second time"));
///
/// // grad_tensors weight two outputs, y0 = a * b and y1 = a + b; None is the implicit 1:
/// // torch.autograd.backward([y0, y1], grad_tensors=[None, torch.tensor([2.])])
/// let (w, x) = (w.detach().set_requires_grad(true), x.detach().set_requires_grad(true));
/// let (a, b) = (&w + &x, &w + Tensor::from(1.0f32));
/// let (y0, y1) = (&a * &b, &a + &b);
/// let g1 = Tensor::from_slice(&[2.0f32]);
/// // One weight for two outputs: PyTorch's RuntimeError, in its words.
/// let err = backward(&[&y0, &y1], Backward::new().grad_tensors([&g1])).unwrap_err();
/// assert_eq!(err.to_string(), "got 2 tensors and 1 gradients");
/// backward(&[&y0, &y1], Backward::new().grad_tensors([None, Some(&g1)]).retain_graph(true))?;
/// assert_eq!(w.grad().double_value(&[0]), 9.0); // 1·5 + 2·2
/// assert_eq!(x.grad().double_value(&[0]), 4.0); // 1·2 + 2·1
///
/// // inputs=[x]: only x.grad grows; w.grad stays as it was.
/// backward(&[&y0], Backward::new().inputs(&[&x]))?;
/// assert_eq!(x.grad().double_value(&[0]), 6.0); // 4 + dy0/dx = 4 + 2
/// assert_eq!(w.grad().double_value(&[0]), 9.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn backward(tensors: &[&Tensor], options: Backward) -> Result<()> {
    let retain_graph = options.retain_graph.unwrap_or(options.create_graph);
    let grads = gradients(tensors, &options.grad_tensors, "backward")?;
    let warnings = ffi::backward(
        tensors,
        &grads,
        retain_graph,
        options.create_graph,
        &options.inputs,
    )
    .map_err(|m| anyhow::anyhow!(first_line(&m)))?;
    keep_warnings(warnings);
    Ok(())
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
    backward(&[tensor], Backward::new().retain_graph(retain_graph))
}

/// The keyword arguments of `torch.autograd.grad`, PyTorch's defaults from [`Grad::new`]:
/// `Grad::new().create_graph(true)` is `create_graph=True`.
#[derive(Clone, Debug, Default)]
pub struct Grad<'a> {
    grad_outputs: Option<Vec<Option<&'a Tensor>>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
}

impl<'a> Grad<'a> {
    /// `grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `grad_outputs=[...]`: the vector each output's Jacobian is multiplied by, or `None` for
    /// the implicit 1 of a one-element output; plain `&Tensor`s work too.
    pub fn grad_outputs<I, T>(mut self, grad_outputs: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Option<&'a Tensor>>,
    {
        self.grad_outputs = Some(grad_outputs.into_iter().map(Into::into).collect());
        self
    }

    /// `retain_graph=...` (by default, `create_graph`'s value).
    pub fn retain_graph(mut self, retain_graph: bool) -> Self {
        self.retain_graph = Some(retain_graph);
        self
    }

    /// `create_graph=...`: the gradients are graphs themselves, for higher-order derivatives.
    pub fn create_graph(mut self, create_graph: bool) -> Self {
        self.create_graph = create_graph;
        self
    }

    /// `allow_unused=...`: an input that the outputs do not depend on gets an undefined tensor
    /// (Python's `None`) instead of an error.
    pub fn allow_unused(mut self, allow_unused: bool) -> Self {
        self.allow_unused = allow_unused;
        self
    }
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs=None, retain_graph=None,
/// create_graph=False, allow_unused=False)`, its keyword arguments in a [`Grad`]: one gradient
/// per input, returned, not accumulated into `.grad`. An unused input's gradient (with
/// `allow_unused`) is an undefined tensor, where Python has `None`.
///
/// # Example
///
/// The lesson's `create_graph` (创建导数计算图): the derivatives of `y = x³` at 2.
///
/// ```
/// use lesson_torch::nn::autograd::{grad, Grad};
/// use tch::Tensor;
///
/// let x = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
/// let y = &x * &x * &x;
/// let d1 = grad(&[&y], &[&x], Grad::new().create_graph(true))?.remove(0); // torch.autograd.grad(y, x, create_graph=True)
/// let d2 = grad(&[&d1], &[&x], Grad::new().create_graph(true))?.remove(0);
/// let d3 = grad(&[&d2], &[&x], Grad::new())?.remove(0);
/// let values: Vec<f64> = [&d1, &d2, &d3].iter().map(|d| d.double_value(&[0])).collect();
/// assert_eq!(values, [12.0, 12.0, 6.0]); // 3x², 6x, 6
/// assert!(!x.grad().defined()); // nothing accumulated into x.grad
///
/// // A vector output needs grad_outputs: the vector-Jacobian product v·J.
/// // torch.autograd.grad(u * u, u, grad_outputs=torch.tensor([1., 10.]))
/// let u = Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
/// let v = Tensor::from_slice(&[1.0f32, 10.0]);
/// let square = &u * &u;
/// let err = grad(&[&square], &[&u], Grad::new().retain_graph(true)).unwrap_err();
/// assert_eq!(err.to_string(), "grad can be implicitly created only for scalar outputs");
/// let du = grad(&[&square], &[&u], Grad::new().grad_outputs([&v]))?.remove(0);
/// assert_eq!(Vec::<f32>::try_from(&du)?, [2.0, 40.0]); // 2u · v
///
/// // allow_unused: z plays no part in y; its gradient is None (an undefined tensor).
/// let z = Tensor::from_slice(&[5.0f32]).set_requires_grad(true);
/// let y = &x * 3.0;
/// let err = grad(&[&y], &[&x, &z], Grad::new().retain_graph(true)).unwrap_err();
/// assert!(err.to_string().contains("Set allow_unused=True"), "{err}");
/// let grads = grad(&[&y], &[&x, &z], Grad::new().allow_unused(true))?;
/// assert_eq!(grads[0].double_value(&[0]), 3.0);
/// assert!(!grads[1].defined());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn grad(outputs: &[&Tensor], inputs: &[&Tensor], options: Grad) -> Result<Vec<Tensor>> {
    let retain_graph = options.retain_graph.unwrap_or(options.create_graph);
    let grads = gradients(outputs, &options.grad_outputs, "grad")?;
    let flags = (retain_graph, options.create_graph, options.allow_unused);
    let (tensors, warnings) = ffi::grad_of_inputs(outputs, &grads, inputs, flags)
        .map_err(|m| anyhow::anyhow!(first_line(&m)))?;
    keep_warnings(warnings);
    Ok(tensors)
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
        backward(&[&y], Backward::new().retain_graph(true)).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (5.0, 2.0));
        backward(&[&y], Backward::new()).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (10.0, 4.0));
        // The graph is freed now: a third pass fails with libtorch's message, as an Err.
        let err = backward(&[&y], Backward::new()).unwrap_err().to_string();
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
        backward(&[&y0, &y1], Backward::new().grad_tensors([&g0, &g1])).unwrap();
        assert_eq!((value(&w.grad()), value(&x.grad())), (9.0, 4.0));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = scalar(2.0);
        let v = &x * Tensor::from_slice(&[1.0f32, 2.0]);
        let err = backward(&[&v], Backward::new()).unwrap_err().to_string();
        assert!(err.contains("implicitly created only for scalar outputs"));
        let g = Tensor::from_slice(&[1.0f32]);
        let err = backward(&[&v], Backward::new().grad_tensors([&g]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Mismatch in shape"), "{err}");
        let c = Tensor::from_slice(&[1.0f32]);
        assert!(backward(&[&c], Backward::new()).is_err());
    }

    #[test]
    fn backward_with_create_graph_gives_a_differentiable_grad() {
        let x = scalar(2.0);
        let y = x.pow_tensor_scalar(3);
        backward(&[&y], Backward::new().create_graph(true)).unwrap();
        let d1 = x.grad();
        assert_eq!(value(&d1), 12.0);
        assert!(d1.requires_grad(), "create_graph records the backward pass");
        let d2 = grad(&[&d1], &[&x], Grad::new()).unwrap().remove(0);
        assert_eq!(value(&d2), 12.0);
        // Without create_graph the gradient is a plain value.
        let z = scalar(2.0);
        backward(&[&z.pow_tensor_scalar(3)], Backward::new()).unwrap();
        assert!(!z.grad().requires_grad());
    }

    #[test]
    fn higher_order_derivatives() {
        let x = scalar(2.0);
        let y = x.pow_tensor_scalar(3);
        let d1 = grad(&[&y], &[&x], Grad::new().create_graph(true))
            .unwrap()
            .remove(0);
        let d2 = grad(&[&d1], &[&x], Grad::new().create_graph(true))
            .unwrap()
            .remove(0);
        let d3 = grad(&[&d2], &[&x], Grad::new()).unwrap().remove(0);
        assert_eq!((value(&d1), value(&d2), value(&d3)), (12.0, 12.0, 6.0));
    }
}
