//! The initial-state term: c_l [½ Σ_i (z_1i − z0_i)²/σ_z0,i² + Σ_i log σ_z0,i], z0 the
//! sequence's learned initial state (`InitialState::PerSequence`) or 0 (`Encoder`).
//!
//! With d = z_1 − z0: dz_1 += c_l d/σ_z0², dz0 −= the same, dℓ_z0 = c_l (1 − d²/σ_z0²)
//! (σ_z0 = e^ℓ_z0).

use super::super::config::InitialState;
use super::{Eval, Workspace};

/// Adds the term's part of ∂L/∂z_1 to `ws.dz` (row 0; rows of `nl` lanes), writes the
/// gradients of z0 and log σ_z0 into `grad`, and returns the term without the factor c_l.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn term(ev: &Eval<'_>, nl: usize, ws: &mut Workspace, grad: &mut [f64]) -> f64 {
    let (l, params, seq, set, c_l) = (ev.l, ev.params, ev.seq, ev.set, ev.c_l);
    let m = l.core.m;
    let mut term = 0.0;
    let (z1, dz1) = (ws.z[..nl].as_flattened(), ws.dz[..nl].as_flattened_mut());
    for i in 0..m {
        let lz0 = params[l.log_sigma_z0.start + i];
        let inv_var = (-2.0 * lz0).exp();
        let z0 = match set.initial_state {
            InitialState::PerSequence => params[l.z0.start + seq.z0_index * m + i],
            InitialState::Encoder => 0.0,
        };
        let d = z1[i] - z0;
        term += 0.5 * d * d * inv_var + lz0;
        let gz = c_l * d * inv_var;
        dz1[i] += gz;
        if set.initial_state == InitialState::PerSequence {
            grad[l.z0.start + seq.z0_index * m + i] = -gz;
        }
        grad[l.log_sigma_z0.start + i] = c_l * (1.0 - d * d * inv_var);
    }
    term
}
