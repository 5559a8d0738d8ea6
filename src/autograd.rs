//! `torch.autograd.backward` and `torch.autograd.grad`, with every argument the lesson names.
//!
//! tch's `Tensor::backward()` passes `retain_graph = false, create_graph = false` and panics on a
//! libtorch error. Here both flags are the caller's, and errors come back as `Err`.
//!
//! Several outputs weighted by `grad_tensors` are run as one backward pass from the root
//! `sum_i (tensors[i] * grad_tensors[i]).sum()`, with the weights detached: each output then
//! receives exactly `1 * grad_tensors[i]` (no rounding) and the engine accumulates at shared
//! nodes as it does for several roots, so the gradients equal PyTorch's.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// The only `unsafe` of the crate: the call into libtorch's C API that takes both flags.
mod ffi {
    use tch::Tensor;

    /// `tensor.backward(retain_graph=keep_graph, create_graph=create_graph)` with the implicit
    /// gradient 1 (for a one-element tensor), returning libtorch's error message.
    pub(super) fn backward(
        tensor: &Tensor,
        keep_graph: bool,
        create_graph: bool,
    ) -> Result<(), String> {
        // SAFETY: `tensor` is a live tensor for the duration of the call; `at_backward` reads it
        // and records gradients inside libtorch. Errors are caught by torch-sys's PROTECT and
        // left in its thread-local slot, which we read and free right after.
        unsafe {
            torch_sys::at_backward(
                tensor.as_ptr() as *mut torch_sys::C_tensor,
                keep_graph as libc::c_int,
                create_graph as libc::c_int,
            );
            let err = torch_sys::get_and_reset_last_err();
            if err.is_null() {
                return Ok(());
            }
            let message = std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned();
            libc::free(err as *mut libc::c_void);
            Err(message)
        }
    }
}

fn shape_string(t: &Tensor) -> String {
    let dims: Vec<String> = t.size().iter().map(|d| d.to_string()).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// The first line of a libtorch error message.
fn first_line(message: &str) -> String {
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
/// Gradients accumulate into the leaves' `.grad`, as in PyTorch.
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
            bail!("grad can be implicitly created only for scalar outputs: got {} tensors and {} grad_tensors", tensors.len(), grads.len());
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
    let root = match (tensors, grad_tensors) {
        ([single], None) => (*single).shallow_clone(),
        _ => {
            let mut terms = tensors.iter().enumerate().map(|(i, t)| match grad_tensors {
                Some(g) => (*t * g[i].detach()).sum(Kind::Float),
                None => t.sum(None::<Kind>),
            });
            let first = terms.next().expect("tensors is not empty");
            terms.fold(first, |acc, term| acc + term)
        }
    };
    ffi::backward(&root, retain_graph, create_graph).map_err(|m| anyhow::anyhow!(first_line(&m)))
}

/// `tensor.backward(retain_graph=...)` for a one-element tensor.
pub fn backward_scalar(tensor: &Tensor, retain_graph: bool) -> Result<()> {
    backward(&[tensor], None, Some(retain_graph), false)
}

/// `torch.autograd.grad(outputs, inputs, retain_graph=None, create_graph=False)` for one-element
/// outputs: the gradients are returned, not accumulated into `.grad`.
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
