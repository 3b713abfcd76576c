//! The trained model in f64: parameters with the names of `docs/architecture.md`, the encoder needed
//! to infer states from data, and a deterministic step, observation and Jacobian.

use plrnn_nostd::Variant;
use serde::{Deserialize, Serialize};

use super::config::EncoderKind;
use super::encoder::EncView;
use super::params::Layout;
use crate::TimeSeries;

/// Encoder parameters (see [`crate::vi::encoder`] for the equations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderParams {
    /// Encoder kind.
    pub kind: EncoderKind,
    /// Hidden units (MLP; 0 otherwise).
    pub hidden: usize,
    /// Window half-width (MLP; 0 otherwise).
    pub window: usize,
    /// Smoothing weight w (Smoothing; 0 otherwise).
    pub smooth: f64,
    /// Mean map, M×N row-major.
    pub wm: Vec<f64>,
    /// log σ map, M×N row-major.
    pub ws: Vec<f64>,
    /// log σ bias (M).
    pub bs: Vec<f64>,
    /// MLP first layer, H×(2r+1)N row-major.
    pub w1: Vec<f64>,
    /// MLP first bias (H).
    pub b1: Vec<f64>,
    /// MLP hidden → mean, M×H row-major.
    pub w2m: Vec<f64>,
    /// MLP hidden → log σ, M×H row-major.
    pub w2s: Vec<f64>,
}

/// A trained PLRNN with its encoder, in f64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// φ variant.
    pub variant: Variant,
    /// Latent dimension M.
    pub m: usize,
    /// Observation dimension N.
    pub n: usize,
    /// Bases P (0 for `Relu`).
    pub p: usize,
    /// Input dimension K.
    pub k: usize,
    /// Diagonal A (M).
    pub a: Vec<f64>,
    /// W, M×M row-major, zero diagonal.
    pub w: Vec<f64>,
    /// Bias h (M).
    pub h: Vec<f64>,
    /// α (P).
    pub alpha: Vec<f64>,
    /// θ, M×P row-major.
    pub theta: Vec<f64>,
    /// C, M×K row-major.
    pub c: Vec<f64>,
    /// B, N×M row-major.
    pub b: Vec<f64>,
    /// Process-noise scales σ_z (M).
    pub sigma_z: Vec<f64>,
    /// Observation-noise scales σ_x (N).
    pub sigma_x: Vec<f64>,
    /// The recognition model.
    pub encoder: EncoderParams,
    /// Per-channel mean the training data was normalised with (0 when the trainer was given
    /// normalised data; the caller that z-scores sets it).
    pub data_mean: Vec<f64>,
    /// Per-channel standard deviation the training data was normalised with (1 by default).
    pub data_std: Vec<f64>,
}

impl TrainedModel {
    /// Extracts the model from a flat parameter vector.
    pub(crate) fn from_flat(l: &Layout, v: &[f64], sigma_z_min: f64) -> Self {
        let get = |r: &std::ops::Range<usize>| v[r.clone()].to_vec();
        Self {
            variant: l.core.variant,
            m: l.core.m,
            n: l.n,
            p: l.core.p,
            k: l.core.k,
            a: get(&l.core.a),
            w: get(&l.core.w),
            h: get(&l.core.h),
            alpha: get(&l.core.alpha),
            theta: get(&l.core.theta),
            c: get(&l.core.c),
            b: get(&l.b),
            sigma_z: v[l.log_sigma_z.clone()]
                .iter()
                .map(|x| sigma_z_min + x.exp())
                .collect(),
            sigma_x: v[l.log_sigma_x.clone()].iter().map(|x| x.exp()).collect(),
            encoder: EncoderParams {
                kind: l.encoder,
                hidden: l.hidden,
                window: l.window,
                smooth: v[l.enc_smooth.clone()].first().copied().unwrap_or(0.0),
                wm: get(&l.enc_wm),
                ws: get(&l.enc_ws),
                bs: get(&l.enc_bs),
                w1: get(&l.enc_w1),
                b1: get(&l.enc_b1),
                w2m: get(&l.enc_w2m),
                w2s: get(&l.enc_w2s),
            },
            data_mean: vec![0.0; l.n],
            data_std: vec![1.0; l.n],
        }
    }

    fn enc_view(&self) -> EncView<'_> {
        let e = &self.encoder;
        EncView {
            kind: e.kind,
            m: self.m,
            n: self.n,
            hidden: e.hidden,
            window: e.window,
            smooth: e.smooth,
            wm: &e.wm,
            ws: &e.ws,
            bs: &e.bs,
            w1: &e.w1,
            b1: &e.b1,
            w2m: &e.w2m,
            w2s: &e.w2s,
        }
    }

    /// φ(z) into `out` (M).
    pub fn phi(&self, z: &[f64], out: &mut [f64]) {
        let p = self.p;
        let alpha_sum: f64 = self.alpha.iter().sum();
        for i in 0..self.m {
            out[i] = match self.variant {
                Variant::Relu => z[i].max(0.0),
                Variant::Dendritic | Variant::ClippedDendritic => {
                    let mut acc = 0.0;
                    for bb in 0..p {
                        acc += self.alpha[bb] * (z[i] - self.theta[i * p + bb]).max(0.0);
                    }
                    if self.variant == Variant::ClippedDendritic {
                        acc -= alpha_sum * z[i].max(0.0);
                    }
                    acc
                }
            };
        }
    }

    /// Deterministic latent step z' = A∘z + W φ(z) + h + C s (`s` may be empty when K = 0).
    pub fn step(&self, z: &[f64], s: &[f64]) -> Vec<f64> {
        let m = self.m;
        let mut phi = vec![0.0; m];
        self.phi(z, &mut phi);
        (0..m)
            .map(|i| {
                let mut v = self.a[i] * z[i] + self.h[i];
                for j in 0..m {
                    v += self.w[i * m + j] * phi[j];
                }
                for kk in 0..self.k {
                    v += self.c[i * self.k + kk] * s.get(kk).copied().unwrap_or(0.0);
                }
                v
            })
            .collect()
    }

    /// Observation mean B z.
    pub fn observe(&self, z: &[f64]) -> Vec<f64> {
        let m = self.m;
        (0..self.n)
            .map(|j| (0..m).map(|i| self.b[j * m + i] * z[i]).sum())
            .collect()
    }

    /// Jacobian ∂z'/∂z = diag(A) + W diag(φ'(z)), M×M row-major.
    pub fn jacobian(&self, z: &[f64]) -> Vec<f64> {
        let (m, p) = (self.m, self.p);
        let alpha_sum: f64 = self.alpha.iter().sum();
        let dphi: Vec<f64> = (0..m)
            .map(|i| match self.variant {
                Variant::Relu => f64::from(u8::from(z[i] > 0.0)),
                Variant::Dendritic | Variant::ClippedDendritic => {
                    let mut d = 0.0;
                    for bb in 0..p {
                        if z[i] > self.theta[i * p + bb] {
                            d += self.alpha[bb];
                        }
                    }
                    if self.variant == Variant::ClippedDendritic && z[i] > 0.0 {
                        d -= alpha_sum;
                    }
                    d
                }
            })
            .collect();
        let mut j = vec![0.0; m * m];
        for r in 0..m {
            for c in 0..m {
                j[r * m + c] = self.w[r * m + c] * dphi[c];
            }
            j[r * m + r] += self.a[r];
        }
        j
    }

    /// Encoder means μ_t for every step of `x` (T×N, normalised like the training data).
    pub fn infer_states(&self, x: &TimeSeries) -> TimeSeries {
        let len = x.len();
        let mut mu = vec![0.0; len * self.m];
        let mut logsd = vec![0.0; len * self.m];
        let mut u = vec![0.0; len * self.n];
        let mut act = vec![0.0; len * self.encoder.hidden];
        self.enc_view()
            .forward(x.as_slice(), &mut mu, &mut logsd, &mut u, &mut act);
        TimeSeries::new(mu, self.m).expect("M >= 1")
    }

    /// Runs the deterministic model `steps` steps from `z0` (without inputs) and returns the
    /// observations B z_t of the visited states (z0 excluded).
    pub fn generate(&self, z0: &[f64], steps: usize) -> TimeSeries {
        let mut z = z0.to_vec();
        let mut out = Vec::with_capacity(steps * self.n);
        for _ in 0..steps {
            z = self.step(&z, &[]);
            out.extend(self.observe(&z));
        }
        TimeSeries::new(out, self.n).expect("N >= 1")
    }

    /// The model in the `plrnn-nostd` layout (f64 → f32, same row-major blocks), ready for
    /// `encode()`. `normalized` is set when the data statistics are not the identity (0, 1).
    pub fn to_model_buf(&self) -> plrnn_nostd::ModelBuf {
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        plrnn_nostd::ModelBuf {
            variant: self.variant,
            dims: plrnn_nostd::Dims {
                m: self.m,
                n: self.n,
                p: self.p,
                k: self.k,
            },
            normalized: self.data_mean.iter().any(|&v| v != 0.0)
                || self.data_std.iter().any(|&v| v != 1.0),
            a: f(&self.a),
            w: f(&self.w),
            h: f(&self.h),
            alpha: f(&self.alpha),
            theta: f(&self.theta),
            c: f(&self.c),
            b: f(&self.b),
            sigma_z: f(&self.sigma_z),
            sigma_x: f(&self.sigma_x),
            data_mean: f(&self.data_mean),
            data_std: f(&self.data_std),
        }
    }
}

impl crate::metrics::Dynamics for TrainedModel {
    fn latent_dim(&self) -> usize {
        self.m
    }
    fn obs_dim(&self) -> usize {
        self.n
    }
    fn step(&self, z: &[f64], z_next: &mut [f64]) {
        z_next.copy_from_slice(&TrainedModel::step(self, z, &[]));
    }
    fn observe(&self, z: &[f64], x: &mut [f64]) {
        x.copy_from_slice(&TrainedModel::observe(self, z));
    }
    fn jacobian(&self, z: &[f64], jac: &mut [f64]) {
        jac.copy_from_slice(&TrainedModel::jacobian(self, z));
    }
}
