//! Arbitrary bytes into every loader. Properties: no panic; a file that loads re-encodes to
//! exactly the same bytes (the format is canonical); a loaded model steps without panicking.
//! Every input is tried twice: as given, and with its last four bytes replaced by the correct
//! CRC-32, so that mutations get past the checksum into the payload and value checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plrnn_nostd::{DynGenerator, Generator, Model, ModelBuf, Noise, ValidModel};

fn fixed<const M: usize, const N: usize, const P: usize, const K: usize>(data: &[u8]) {
    let mut m = Box::new(Model::<M, N, P, K>::new_zeroed());
    let before = m.clone();
    match m.decode_into(data) {
        Ok(()) => {
            let mut out = vec![0u8; Model::<M, N, P, K>::encoded_len()];
            let n = m.encode_into(&mut out).expect("buffer sized by encoded_len");
            assert_eq!(&out[..n], data, "accepted file is not canonical");
            let mut g = Generator::new(&m, 1);
            let mut x = [[0.0f32; N]; 8];
            g.run(Noise::Full, &mut x);
        }
        Err(_) => assert_eq!(*m, *before, "failed load changed the storage"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let body = data.len() - 4;
        let crc = plrnn_nostd::crc32(&data[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    fixed::<4, 3, 2, 1>(data);
    fixed::<20, 3, 20, 1>(data);
    fixed::<50, 10, 30, 0>(data);
    if let Ok(buf) = ModelBuf::decode(data) {
        let v = ValidModel::new(buf).expect("decoded models validate");
        assert_eq!(v.encode(), data);
        let d = v.buf().dims();
        let mut g = DynGenerator::new(v.model_ref(), 2);
        let s = vec![0.5f32; d.k];
        let mut x = vec![0.0f32; d.n];
        for _ in 0..8 {
            g.step(&s, Noise::Full, &mut x).expect("sizes match");
        }
    }
}
