//! The model file, format version 1. See the crate documentation for the byte layout.

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple, Serializer};
use serde::Serialize;

use crate::basis::ThetaRef;
use crate::error::{BufferTooSmall, Dim, LoadError};
use crate::model::{Dims, Model, ModelRef, Param, ParamsRef, Variant};

/// The four magic bytes at the start of every model file.
pub const MAGIC: [u8; 4] = *b"PLRN";
/// The format version this library writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;
/// Length of the CRC-32 trailer in bytes.
pub const CRC_LEN: usize = 4;
/// Header flag: data statistics are meaningful (the model was trained on z-scored data).
pub const FLAG_NORMALIZED: u8 = 0b0000_0001;
const KNOWN_FLAGS: u8 = FLAG_NORMALIZED;

/// The parsed fixed header of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version (always [`FORMAT_VERSION`] once parsed).
    pub version: u16,
    /// The φ variant.
    pub variant: Variant,
    /// Header flags ([`FLAG_NORMALIZED`]).
    pub flags: u8,
    /// Model sizes.
    pub dims: Dims,
}

impl Header {
    /// Parses and checks the header: magic, version, variant tag, flags, M ≥ 1 and N ≥ 1.
    /// Reads only the first [`HEADER_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        let Some(hd) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(LoadError::Truncated {
                expected: HEADER_LEN + CRC_LEN,
                found: bytes.len(),
            });
        };
        let [m0, m1, m2, m3, v0, v1, variant, flags, a0, a1, b0, b1, c0, c1, d0, d1] = *hd;
        let magic = [m0, m1, m2, m3];
        if magic != MAGIC {
            return Err(LoadError::BadMagic { found: magic });
        }
        let version = u16::from_le_bytes([v0, v1]);
        if version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let variant = Variant::from_tag(variant)?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(LoadError::UnknownFlags { flags });
        }
        let dims = Dims {
            m: u16::from_le_bytes([a0, a1]) as usize,
            n: u16::from_le_bytes([b0, b1]) as usize,
            p: u16::from_le_bytes([c0, c1]) as usize,
            k: u16::from_le_bytes([d0, d1]) as usize,
        };
        if dims.m == 0 {
            return Err(LoadError::ZeroDimension { dim: Dim::M });
        }
        if dims.n == 0 {
            return Err(LoadError::ZeroDimension { dim: Dim::N });
        }
        Ok(Self {
            version,
            variant,
            flags,
            dims,
        })
    }

    /// Whether [`FLAG_NORMALIZED`] is set.
    pub const fn normalized(&self) -> bool {
        self.flags & FLAG_NORMALIZED != 0
    }

    /// Total file length this header implies.
    pub const fn file_len(&self) -> usize {
        file_len(self.dims)
    }

    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let parts: [&[u8]; 8] = [
            &MAGIC,
            &self.version.to_le_bytes(),
            &[self.variant.tag()],
            &[self.flags],
            &(self.dims.m as u16).to_le_bytes(),
            &(self.dims.n as u16).to_le_bytes(),
            &(self.dims.p as u16).to_le_bytes(),
            &(self.dims.k as u16).to_le_bytes(),
        ];
        let mut dst = out.iter_mut();
        for part in parts {
            // `part` first: zip polls its first iterator first, so `dst` is not over-advanced.
            for (s, d) in part.iter().zip(dst.by_ref()) {
                *d = *s;
            }
        }
        out
    }
}

/// Length of a postcard varint (LEB128) encoding of `v`.
const fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Length of the postcard payload for dimensions `d`: per block, a varint count then 4 bytes
/// per value. Dimensions are at most 65 535, so this cannot overflow a 64-bit usize; on 32-bit
/// targets it saturates, which still makes the length check reject the file.
pub const fn payload_len(d: Dims) -> usize {
    let mut total: usize = 0;
    let mut i = 0;
    while i < Param::ALL.len() {
        let n = Param::ALL[i].len(d);
        total = total
            .saturating_add(varint_len(n))
            .saturating_add(n.saturating_mul(4));
        i += 1;
    }
    total
}

/// Total length of a model file for dimensions `d`.
pub const fn file_len(d: Dims) -> usize {
    HEADER_LEN + payload_len(d) + CRC_LEN
}

/// CRC-32 (IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial value and final
/// XOR 0xFFFFFFFF). `crc32(b"123456789") == 0xCBF43926`.
pub fn crc32(bytes: &[u8]) -> u32 {
    // Bit by bit rather than with a 1 kB table: the checksum runs once per load, and on a
    // microcontroller the table's flash matters more than the microseconds.
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            let mask = (c & 1).wrapping_neg();
            c = (c >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !c
}

/// Checks everything up to the payload contents: header, exact length, checksum.
/// Returns the header and the payload bytes.
pub(crate) fn check_frame(bytes: &[u8]) -> Result<(Header, &[u8]), LoadError> {
    let header = Header::parse(bytes)?;
    let expected = header.file_len();
    if bytes.len() < expected {
        return Err(LoadError::Truncated {
            expected,
            found: bytes.len(),
        });
    }
    if bytes.len() > expected {
        return Err(LoadError::TrailingBytes {
            expected,
            found: bytes.len(),
        });
    }
    // `bytes.len() == expected` here. Not `split_at`: the optimiser cannot prove its bound, so
    // it would leave a panic path in the loader (firmware-example's no-panic check finds it).
    let Some((body, crc)) = bytes.split_last_chunk::<CRC_LEN>() else {
        return Err(LoadError::PayloadDecode);
    };
    let stored = u32::from_le_bytes(*crc);
    let computed = crc32(body);
    if stored != computed {
        return Err(LoadError::ChecksumMismatch { stored, computed });
    }
    let payload = body.get(HEADER_LEN..).unwrap_or(&[]);
    Ok((header, payload))
}

/// Walks the payload, calling `sink(param, index, value)` for every value in file order. Each
/// block must hold exactly the count the header implies; the payload must be consumed exactly.
pub(crate) fn walk_payload<F>(payload: &[u8], dims: Dims, sink: &mut F) -> Result<(), LoadError>
where
    F: FnMut(Param, usize, f32) -> Result<(), LoadError>,
{
    let mut failure = None;
    let mut de = postcard::Deserializer::from_bytes(payload);
    let seed = PayloadSeed {
        dims,
        sink,
        failure: &mut failure,
    };
    let res = seed.deserialize(&mut de);
    if let Some(e) = failure {
        return Err(e);
    }
    res.map_err(|_| LoadError::PayloadDecode)?;
    match de.finalize() {
        Ok([]) => Ok(()),
        _ => Err(LoadError::PayloadDecode),
    }
}

struct PayloadSeed<'s, F> {
    dims: Dims,
    sink: &'s mut F,
    failure: &'s mut Option<LoadError>,
}

impl<'de, F> DeserializeSeed<'de> for PayloadSeed<'_, F>
where
    F: FnMut(Param, usize, f32) -> Result<(), LoadError>,
{
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_tuple(Param::ALL.len(), self)
    }
}

impl<'de, F> Visitor<'de> for PayloadSeed<'_, F>
where
    F: FnMut(Param, usize, f32) -> Result<(), LoadError>,
{
    type Value = ();
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a tuple of parameter blocks")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for param in Param::ALL {
            let block = BlockSeed {
                param,
                dims: self.dims,
                sink: &mut *self.sink,
                failure: &mut *self.failure,
            };
            if seq.next_element_seed(block)?.is_none() {
                return Err(de::Error::custom("missing block"));
            }
        }
        Ok(())
    }
}

struct BlockSeed<'s, F> {
    param: Param,
    dims: Dims,
    sink: &'s mut F,
    failure: &'s mut Option<LoadError>,
}

impl<'de, F> DeserializeSeed<'de> for BlockSeed<'_, F>
where
    F: FnMut(Param, usize, f32) -> Result<(), LoadError>,
{
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for BlockSeed<'_, F>
where
    F: FnMut(Param, usize, f32) -> Result<(), LoadError>,
{
    type Value = ();
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a sequence of f32")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let expected = self.param.len(self.dims);
        // Reject a wrong count before reading any value (the count is the seq's length prefix).
        if seq.size_hint() != Some(expected) {
            *self.failure = Some(LoadError::PayloadDecode);
            return Err(de::Error::custom("block length"));
        }
        let mut i = 0;
        while let Some(v) = seq.next_element::<f32>()? {
            if let Err(e) = (self.sink)(self.param, i, v) {
                *self.failure = Some(e);
                return Err(de::Error::custom("invalid value"));
            }
            i += 1;
        }
        Ok(())
    }
}

/// Serialises the payload: a postcard tuple of 11 sequences of f32, in [`Param::ALL`] order.
struct PayloadSer<'a> {
    dims: Dims,
    params: ParamsRef<'a>,
    theta: ThetaRef<'a>,
}

/// θ in file order, as a sequence.
struct ThetaSer<'a> {
    len: usize,
    theta: ThetaRef<'a>,
}

impl Serialize for ThetaSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for i in 0..self.len {
            seq.serialize_element(&self.theta.get(i).unwrap_or(0.0))?;
        }
        seq.end()
    }
}

impl Serialize for PayloadSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(Param::ALL.len())?;
        for param in Param::ALL {
            match self.params.block(param) {
                Some(block) => t.serialize_element(block)?,
                None => t.serialize_element(&ThetaSer {
                    len: param.len(self.dims),
                    theta: self.theta,
                })?,
            }
        }
        t.end()
    }
}

/// Writes a model file (header, payload, CRC) into `out`; returns the bytes written. The caller
/// has validated the blocks.
pub(crate) fn encode_parts(
    header: Header,
    params: ParamsRef<'_>,
    theta: ThetaRef<'_>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let needed = header.file_len();
    let too_small = BufferTooSmall {
        needed,
        available: out.len(),
    };
    let Some(out) = out.get_mut(..needed) else {
        return Err(too_small);
    };
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header.to_bytes());
    let (payload, _) = rest.split_at_mut(needed - HEADER_LEN - CRC_LEN);
    let ser = PayloadSer {
        dims: header.dims,
        params,
        theta,
    };
    let used = postcard::to_slice(&ser, payload)
        .map_err(|_| too_small)?
        .len();
    debug_assert_eq!(used, payload.len());
    let sum = crc32(&out[..needed - CRC_LEN]);
    out[needed - CRC_LEN..].copy_from_slice(&sum.to_le_bytes());
    Ok(needed)
}

impl ModelRef<'_> {
    /// The header this model is written with.
    pub fn header(&self) -> Header {
        Header {
            version: FORMAT_VERSION,
            variant: self.variant(),
            flags: if self.normalized() {
                FLAG_NORMALIZED
            } else {
                0
            },
            dims: self.dims(),
        }
    }

    /// Length of this model's file in bytes.
    pub fn encoded_len(&self) -> usize {
        file_len(self.dims())
    }

    /// Writes the model file into `out`, returning the number of bytes written. Needs no heap.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        encode_parts(self.header(), self.params(), self.theta_ref(), out)
    }

    /// The model file as a new vector.
    #[cfg(feature = "alloc")]
    pub fn encode(&self) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; self.encoded_len()];
        // The buffer has exactly the needed length, so this cannot fail.
        let n = self.encode_into(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }
}

impl<const M: usize, const N: usize, const P: usize, const K: usize> Model<M, N, P, K> {
    /// Decodes a model file into this storage, accepting any variant. All checks run before
    /// anything is written: on error the model is unchanged. Uses no heap and only a few
    /// hundred bytes of stack, whatever the model size.
    pub fn decode_into(&mut self, bytes: &[u8]) -> Result<(), LoadError> {
        self.decode_impl(bytes, None)
    }

    /// Like [`Model::decode_into`], but also requires the file's variant to be `variant`.
    pub fn decode_into_variant(&mut self, bytes: &[u8], variant: Variant) -> Result<(), LoadError> {
        self.decode_impl(bytes, Some(variant))
    }

    fn decode_impl(&mut self, bytes: &[u8], want: Option<Variant>) -> Result<(), LoadError> {
        // Dimensions are checked first, so a header claiming huge sizes costs nothing.
        let header = Header::parse(bytes)?;
        let dims = Self::DIMS;
        for (dim, expected, found) in [
            (Dim::M, dims.m, header.dims.m),
            (Dim::N, dims.n, header.dims.n),
            (Dim::P, dims.p, header.dims.p),
            (Dim::K, dims.k, header.dims.k),
        ] {
            if expected != found {
                return Err(LoadError::DimensionMismatch {
                    dim,
                    expected,
                    found,
                });
            }
        }
        if let Some(expected) = want {
            if expected != header.variant {
                return Err(LoadError::VariantMismatch {
                    expected,
                    found: header.variant,
                });
            }
        }
        let (header, payload) = check_frame(bytes)?;
        // Pass 1 validates every value without storing; pass 2 stores. So a failure leaves the
        // storage untouched and needs no temporary copy of the model.
        walk_payload(payload, dims, &mut |p, i, v| p.check(dims, i, v))?;
        walk_payload(payload, dims, &mut |p, i, v| {
            if let Some(slot) = self.slot_mut(p, i) {
                *slot = v;
            }
            Ok(())
        })?;
        // θ went into `pairs[j][b][0]`; sort it into keys and ranks, and sum the tables.
        self.build_tables();
        self.variant = header.variant;
        self.normalized = header.normalized();
        Ok(())
    }

    fn slot_mut(&mut self, p: Param, i: usize) -> Option<&mut f32> {
        let block: &mut [f32] = match p {
            Param::A => &mut self.a,
            Param::W => self.w.as_flattened_mut(),
            Param::H => &mut self.h,
            Param::Alpha => &mut self.alpha,
            Param::Theta => {
                // Staged in the first half of each table pair until `build_tables`.
                return self.pairs.as_flattened_mut().get_mut(i).map(|p| &mut p[0]);
            }
            Param::C => self.c.as_flattened_mut(),
            Param::B => self.b.as_flattened_mut(),
            Param::SigmaZ => &mut self.sigma_z,
            Param::SigmaX => &mut self.sigma_x,
            Param::DataMean => &mut self.data_mean,
            Param::DataStd => &mut self.data_std,
        };
        block.get_mut(i)
    }

    /// Length of this model's file in bytes.
    pub const fn encoded_len() -> usize {
        file_len(Self::DIMS)
    }

    /// Writes the model file into `out`; returns the bytes written.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.as_model_ref().encode_into(out)
    }
}
