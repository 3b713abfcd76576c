//! The model file: round trips, and rejection of every corruption.

mod common;

use common::{random_model, VARIANTS};
use plrnn_nostd::format::{file_len, HEADER_LEN};
use plrnn_nostd::{crc32, Dim, Dims, LoadError, Model, ModelBuf, Param, Variant};
use proptest::prelude::*;

type M20 = Model<20, 3, 20, 0>;

fn sample_file() -> Vec<u8> {
    let m: Model<4, 3, 2, 1> = random_model(42, Variant::ClippedDendritic, 0.9);
    let m = m
        .with_data_stats([1.0, -2.0, 3.0], [0.5, 2.0, 1.5])
        .unwrap();
    m.as_model_ref().encode()
}

fn decode_small(bytes: &[u8]) -> Result<Model<4, 3, 2, 1>, LoadError> {
    let mut m = Model::new_zeroed();
    m.decode_into(bytes)?;
    Ok(m)
}

#[test]
fn crc32_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn round_trip_is_identical_for_every_variant() {
    for v in VARIANTS {
        let m: M20 = random_model(7, v, 0.95);
        let bytes = m.as_model_ref().encode();
        assert_eq!(bytes.len(), M20::encoded_len());
        let mut back = Box::new(M20::new_zeroed());
        back.decode_into(&bytes).unwrap();
        assert_eq!(*back, m);
        // The host's dynamic decoder reads the same file to the same numbers, and re-encodes it
        // to the same bytes.
        let buf = ModelBuf::decode(&bytes).unwrap();
        assert_eq!(buf.variant, v);
        assert_eq!(buf.encode().unwrap(), bytes);
        // encode_into without a heap gives the same bytes.
        let mut out = vec![0u8; bytes.len() + 10];
        let n = m.encode_into(&mut out).unwrap();
        assert_eq!(&out[..n], &bytes[..]);
        assert!(m.encode_into(&mut out[..n - 1]).is_err());
    }
}

#[test]
fn data_statistics_travel_with_the_model() {
    let bytes = sample_file();
    let m = decode_small(&bytes).unwrap();
    assert!(m.normalized());
    assert_eq!(m.data_mean(), &[1.0, -2.0, 3.0]);
    let mut x = [2.0, 1.0, 0.0];
    m.to_data_units(&mut x);
    assert_eq!(x, [2.0, 0.0, 3.0]);
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = sample_file();
    for len in 0..bytes.len() {
        let r = decode_small(&bytes[..len]);
        assert!(
            matches!(r, Err(LoadError::Truncated { .. })),
            "truncation to {len} bytes gave {r:?}"
        );
        assert!(ModelBuf::decode(&bytes[..len]).is_err());
    }
}

#[test]
fn every_single_bit_flip_is_rejected_and_storage_untouched() {
    let bytes = sample_file();
    let original = decode_small(&bytes).unwrap();
    let mut bad = bytes.clone();
    for i in 0..bytes.len() * 8 {
        bad[i / 8] ^= 1 << (i % 8);
        let mut m = original.clone();
        let r = m.decode_into(&bad);
        assert!(r.is_err(), "flip of bit {i} was accepted");
        assert_eq!(m, original, "failed load changed the storage (bit {i})");
        assert!(
            ModelBuf::decode(&bad).is_err(),
            "dynamic decode accepted flip {i}"
        );
        bad[i / 8] ^= 1 << (i % 8);
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = sample_file();
    bytes.push(0);
    assert!(matches!(
        decode_small(&bytes),
        Err(LoadError::TrailingBytes { .. })
    ));
}

#[test]
fn other_dimensions_give_the_dimension_error() {
    let bytes = sample_file();
    let mut m = Model::<5, 3, 2, 1>::new_zeroed();
    assert_eq!(
        m.decode_into(&bytes),
        Err(LoadError::DimensionMismatch {
            dim: Dim::M,
            expected: 5,
            found: 4
        })
    );
    let mut m = Model::<4, 3, 2, 0>::new_zeroed();
    assert_eq!(
        m.decode_into(&bytes),
        Err(LoadError::DimensionMismatch {
            dim: Dim::K,
            expected: 0,
            found: 1
        })
    );
    let mut m = Model::<4, 3, 2, 1>::new_zeroed();
    assert_eq!(
        m.decode_into_variant(&bytes, Variant::Relu),
        Err(LoadError::VariantMismatch {
            expected: Variant::Relu,
            found: Variant::ClippedDendritic
        })
    );
}

/// Rewrites one value of a block in a valid file and fixes the CRC, so only the value check
/// can catch it.
fn with_value(param: Param, index: usize, v: f32) -> Vec<u8> {
    let bytes = sample_file();
    let mut buf = ModelBuf::decode(&bytes).unwrap();
    buf.block_mut(param)[index] = v;
    // Encode by hand around validation: header and payload as the encoder lays them out.
    let dims = buf.dims();
    let mut out = bytes[..HEADER_LEN].to_vec();
    for p in Param::ALL {
        let block = buf.block_mut(p).clone();
        out.push(block.len() as u8); // all counts here are < 128: one varint byte
        for x in block {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(out.len(), file_len(dims));
    out
}

#[test]
fn invalid_values_give_typed_errors() {
    assert_eq!(with_value(Param::A, 0, 0.5).len(), sample_file().len());
    assert!(decode_small(&with_value(Param::A, 0, 0.5)).is_ok());
    assert_eq!(
        decode_small(&with_value(Param::B, 5, f32::NAN)),
        Err(LoadError::NonFinite {
            param: Param::B,
            index: 5
        })
    );
    assert_eq!(
        decode_small(&with_value(Param::H, 1, f32::INFINITY)),
        Err(LoadError::NonFinite {
            param: Param::H,
            index: 1
        })
    );
    assert_eq!(
        decode_small(&with_value(Param::SigmaZ, 2, 0.0)),
        Err(LoadError::NonPositiveScale {
            param: Param::SigmaZ,
            index: 2
        })
    );
    assert_eq!(
        decode_small(&with_value(Param::SigmaX, 0, -1.0)),
        Err(LoadError::NonPositiveScale {
            param: Param::SigmaX,
            index: 0
        })
    );
    assert_eq!(
        decode_small(&with_value(Param::W, 4 + 1, 0.3)),
        Err(LoadError::NonZeroDiagonal { index: 1 })
    );
    assert_eq!(
        ModelBuf::decode(&with_value(Param::Theta, 3, f32::NEG_INFINITY)),
        Err(LoadError::NonFinite {
            param: Param::Theta,
            index: 3
        })
    );
}

#[test]
fn header_errors() {
    let bytes = sample_file();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(decode_small(&b), Err(LoadError::BadMagic { .. })));
    let mut b = bytes.clone();
    b[4] = 2;
    assert_eq!(
        decode_small(&b),
        Err(LoadError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    let mut b = bytes.clone();
    b[6] = 9;
    assert_eq!(decode_small(&b), Err(LoadError::UnknownVariant { tag: 9 }));
    let mut b = bytes.clone();
    b[7] = 0x80;
    assert_eq!(
        decode_small(&b),
        Err(LoadError::UnknownFlags { flags: 0x80 })
    );
}

#[test]
fn huge_dimensions_are_rejected_before_any_work() {
    // A 16-byte header claiming 65535 latent units: the dynamic decoder must say "truncated"
    // from the header alone, without allocating gigabytes.
    let mut b = sample_file()[..HEADER_LEN].to_vec();
    b[8..16].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    let expected = file_len(Dims {
        m: 65535,
        n: 65535,
        p: 65535,
        k: 65535,
    });
    assert_eq!(
        ModelBuf::decode(&b),
        Err(LoadError::Truncated {
            expected,
            found: 16
        })
    );
    assert!(matches!(
        decode_small(&b),
        Err(LoadError::DimensionMismatch { .. })
    ));
}

#[test]
fn a_100_by_100_model_decodes_into_static_storage() {
    static STORAGE: std::sync::Mutex<Model<100, 100, 0, 0>> =
        std::sync::Mutex::new(Model::new_zeroed());
    let m: Box<Model<100, 100, 0, 0>> = Box::new(random_model(1, Variant::Relu, 0.9));
    let bytes = m.as_model_ref().encode();
    let mut s = STORAGE.lock().unwrap();
    s.decode_into(&bytes).unwrap();
    assert_eq!(*s, *m);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_substitutions_are_rejected(pos in 0usize..1000, val in any::<u8>(), n in 1usize..4) {
        let bytes = sample_file();
        let mut bad = bytes.clone();
        let mut changed = false;
        for j in 0..n {
            let p = (pos + j * 37) % bytes.len();
            bad[p] = val.wrapping_add(j as u8);
            changed |= bad[p] != bytes[p];
        }
        prop_assume!(changed);
        prop_assert!(decode_small(&bad).is_err());
        prop_assert!(ModelBuf::decode(&bad).is_err());
    }

    #[test]
    fn splices_of_two_valid_files_are_rejected(cut in 1usize..400, seed in any::<u64>()) {
        let a = sample_file();
        let other: Model<4, 3, 2, 1> = random_model(seed, Variant::Dendritic, 0.5);
        let b = other.as_model_ref().encode();
        let cut = cut % (a.len() - 1) + 1;
        let mut spliced = a[..cut].to_vec();
        spliced.extend_from_slice(&b[cut..]);
        prop_assume!(spliced != a && spliced != b);
        prop_assert!(decode_small(&spliced).is_err());
    }
}
