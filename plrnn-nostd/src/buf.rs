//! Heap-owned models of run-time size for hosts (`alloc` feature): decode any model file, run
//! it through the same kernel as the device.

use alloc::vec;
use alloc::vec::Vec;

use crate::basis::{fill_pairs, key, BasisRef, ThetaRef};
use crate::error::LoadError;
use crate::format::{
    check_frame, encode_parts, walk_payload, Header, FLAG_NORMALIZED, FORMAT_VERSION,
};
use crate::model::{validate, Dims, ModelRef, Param, ParamsRef, Variant};

/// A model of run-time size owning its parameters (row-major, as in the file). Fields are public
/// so a trainer can fill them; to step it, validate it into a [`ValidModel`], which also builds
/// the sorted basis tables the step reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelBuf {
    /// The φ variant.
    pub variant: Variant,
    /// The sizes M, N, P, K.
    pub dims: Dims,
    /// Whether `data_mean`/`data_std` describe z-scored training data.
    pub normalized: bool,
    /// A (M).
    pub a: Vec<f32>,
    /// W (M×M, zero diagonal).
    pub w: Vec<f32>,
    /// h (M).
    pub h: Vec<f32>,
    /// α (P).
    pub alpha: Vec<f32>,
    /// θ (M×P).
    pub theta: Vec<f32>,
    /// C (M×K).
    pub c: Vec<f32>,
    /// B (N×M).
    pub b: Vec<f32>,
    /// σ_z (M).
    pub sigma_z: Vec<f32>,
    /// σ_x (N).
    pub sigma_x: Vec<f32>,
    /// Data mean (N).
    pub data_mean: Vec<f32>,
    /// Data standard deviation (N).
    pub data_std: Vec<f32>,
}

impl ModelBuf {
    /// A model of the given sizes with every weight zero and unit scales.
    pub fn zeroed(variant: Variant, dims: Dims) -> Self {
        let z = |p: Param| vec![0.0f32; p.len(dims)];
        let one = |p: Param| vec![1.0f32; p.len(dims)];
        Self {
            variant,
            dims,
            normalized: false,
            a: z(Param::A),
            w: z(Param::W),
            h: z(Param::H),
            alpha: z(Param::Alpha),
            theta: z(Param::Theta),
            c: z(Param::C),
            b: z(Param::B),
            sigma_z: one(Param::SigmaZ),
            sigma_x: one(Param::SigmaX),
            data_mean: z(Param::DataMean),
            data_std: one(Param::DataStd),
        }
    }

    /// The sizes (the field `dims`).
    pub const fn dims(&self) -> Dims {
        self.dims
    }

    /// The block named by `p`, mutable.
    pub fn block_mut(&mut self, p: Param) -> &mut Vec<f32> {
        match p {
            Param::A => &mut self.a,
            Param::W => &mut self.w,
            Param::H => &mut self.h,
            Param::Alpha => &mut self.alpha,
            Param::Theta => &mut self.theta,
            Param::C => &mut self.c,
            Param::B => &mut self.b,
            Param::SigmaZ => &mut self.sigma_z,
            Param::SigmaX => &mut self.sigma_x,
            Param::DataMean => &mut self.data_mean,
            Param::DataStd => &mut self.data_std,
        }
    }

    fn params_ref(&self) -> ParamsRef<'_> {
        ParamsRef {
            a: &self.a,
            w: &self.w,
            h: &self.h,
            alpha: &self.alpha,
            c: &self.c,
            b: &self.b,
            sigma_z: &self.sigma_z,
            sigma_x: &self.sigma_x,
            data_mean: &self.data_mean,
            data_std: &self.data_std,
        }
    }

    /// Checks sizes and values (finite, positive scales, zero W diagonal, M and N ≥ 1): the
    /// checks of the file format. [`ValidModel::new`] runs them.
    pub fn validate(&self) -> Result<(), LoadError> {
        validate(self.dims(), &self.params_ref(), &self.theta)
    }

    /// The header this model is written with.
    fn header(&self) -> Header {
        Header {
            version: FORMAT_VERSION,
            variant: self.variant,
            flags: if self.normalized { FLAG_NORMALIZED } else { 0 },
            dims: self.dims(),
        }
    }

    /// Validates and writes the model file.
    pub fn encode(&self) -> Result<Vec<u8>, LoadError> {
        self.validate()?;
        Ok(self.encode_unchecked())
    }

    fn encode_unchecked(&self) -> Vec<u8> {
        let header = self.header();
        let mut v = vec![0u8; header.file_len()];
        // The buffer has exactly the needed length, so this cannot fail.
        let n = encode_parts(
            header,
            self.params_ref(),
            ThetaRef::Values(&self.theta),
            &mut v,
        )
        .unwrap_or(0);
        v.truncate(n);
        v
    }

    /// Decodes any model file. The length implied by the header is checked against the bytes
    /// given before anything is allocated, so a header claiming huge sizes is rejected cheaply.
    pub fn decode(bytes: &[u8]) -> Result<Self, LoadError> {
        let (header, payload) = check_frame(bytes)?;
        let Header { variant, dims, .. } = header;
        let mut buf = Self::zeroed(variant, dims);
        buf.normalized = header.normalized();
        walk_payload(payload, dims, &mut |p, i, v| {
            p.check(dims, i, v)?;
            if let Some(slot) = buf.block_mut(p).get_mut(i) {
                *slot = v;
            }
            Ok(())
        })?;
        Ok(buf)
    }
}

/// A [`ModelBuf`] that passed validation, with the basis tables of its sorted thresholds:
/// holding one proves every check of the file format holds, so its view is available without
/// re-checking (hosts step it millions of times). Steps are bit-identical to a [`Model`] of the
/// same parameters (the tables are built by the same arithmetic).
///
/// [`Model`]: crate::Model
#[derive(Clone, Debug, PartialEq)]
pub struct ValidModel {
    buf: ModelBuf,
    keys: Vec<u32>,
    pairs: Vec<[f32; 2]>,
}

impl ValidModel {
    /// Validates `buf` and builds its basis tables; on failure the error says which check
    /// failed.
    pub fn new(buf: ModelBuf) -> Result<Self, LoadError> {
        buf.validate()?;
        let Dims { m, p, .. } = buf.dims;
        let mut keys = vec![0u32; m * p];
        let mut pairs = vec![[0.0f32; 2]; m * p];
        if p > 0 {
            let mut order: Vec<usize> = (0..p).collect();
            for ((th, kr), pr) in buf
                .theta
                .chunks_exact(p)
                .zip(keys.chunks_exact_mut(p))
                .zip(pairs.chunks_exact_mut(p))
            {
                // A stable sort by key: ties keep file order, as `Model`'s ranks do.
                order.clear();
                order.extend(0..p);
                order.sort_by_key(|&b| key(th[b]));
                for (k, &b) in kr.iter_mut().zip(&order) {
                    *k = key(th[b]);
                }
                fill_pairs(order.iter().map(|&b| (th[b], buf.alpha[b])), pr);
            }
        }
        Ok(Self { buf, keys, pairs })
    }

    /// Decodes and validates a model file of any size.
    pub fn decode(bytes: &[u8]) -> Result<Self, LoadError> {
        Self::new(ModelBuf::decode(bytes)?)
    }

    /// The validated parameters.
    pub fn buf(&self) -> &ModelBuf {
        &self.buf
    }

    /// Gives the parameters back for editing (they must be validated again to be used).
    pub fn into_inner(self) -> ModelBuf {
        self.buf
    }

    /// The view every step goes through (no re-validation).
    pub fn model_ref(&self) -> ModelRef<'_> {
        let b = &self.buf;
        ModelRef::trusted(
            b.variant,
            b.dims(),
            b.normalized,
            b.params_ref(),
            ThetaRef::Values(&b.theta),
            BasisRef {
                keys: &self.keys,
                pairs: &self.pairs,
            },
        )
    }

    /// The model file.
    pub fn encode(&self) -> Vec<u8> {
        self.buf.encode_unchecked()
    }
}
