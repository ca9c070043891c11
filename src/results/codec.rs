//! Histograms in results files: HdrHistogram V2 compressed (zlib deflate),
//! base64 (standard alphabet, padded) — the form other HdrHistogram
//! implementations (Java, Go, JS) read.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::error::HistogramDecodeError;

/// Cookies as HdrHistogram writes them (base cookie | 0x10 word size).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// V2 header: cookie, payload length, normalizing offset, digits, low,
/// high, integer-to-double ratio.
const V2_HEADER_LEN: usize = 40;
/// Refuse histograms that would need more than this many bytes decoded
/// (ours need well under 1 MiB); bounds what a hostile file can allocate.
const MAX_DECODED: usize = 16 << 20;
/// Refuse ranges past ~8.9 years in µs or more than 5 digits: such a
/// histogram could not come from rocketload and would allocate a lot.
const MAX_HIGH: u64 = 1 << 48;
const MAX_DIGITS: u32 = 5;

/// The base64 V2-compressed form of `h`.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec performs no I/O; it fails only for histograms
    // too large for a u32 length, which the fixed 1 µs..1 h shape excludes.
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Decodes what [`encode_histogram`] (or any HdrHistogram V2 encoder,
/// compressed or not) wrote. Never panics; bounded allocation.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramDecodeError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| HistogramDecodeError::Base64(e.to_string()))?;
    let format = |m: &str| HistogramDecodeError::Format(m.to_string());
    let cookie = be_u32(&bytes, 0).ok_or_else(|| format("shorter than its header"))?;
    let plain = match cookie {
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(&bytes, 4).ok_or_else(|| format("shorter than its header"))? as usize;
            let body = bytes
                .get(8..8 + len)
                .ok_or_else(|| format("compressed payload cut short"))?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(body)
                .take(MAX_DECODED as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| HistogramDecodeError::Format(format!("deflate: {e}")))?;
            if out.len() > MAX_DECODED {
                return Err(HistogramDecodeError::TooLarge { limit: MAX_DECODED });
            }
            out
        }
        V2_COOKIE => bytes,
        _ => return Err(format("unknown cookie")),
    };
    check_v2_header(&plain)?;
    Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|e| HistogramDecodeError::Format(format!("{e:?}")))
}

fn check_v2_header(b: &[u8]) -> Result<(), HistogramDecodeError> {
    let format = |m: &str| HistogramDecodeError::Format(m.to_string());
    if b.len() < V2_HEADER_LEN || be_u32(b, 0) != Some(V2_COOKIE) {
        return Err(format("bad V2 header"));
    }
    let payload = be_u32(b, 4).unwrap_or(u32::MAX) as usize;
    if payload != b.len() - V2_HEADER_LEN {
        return Err(format("payload length does not match the data"));
    }
    let digits = be_u32(b, 12).unwrap_or(u32::MAX);
    let high = be_u64(b, 24).unwrap_or(u64::MAX);
    if digits > MAX_DIGITS || high > MAX_HIGH {
        return Err(format("range or precision outside what rocketload writes"));
    }
    Ok(())
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// serde adapter: a histogram field as its base64 V2-compressed string.
pub mod serde_histogram {
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_histogram(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_histogram(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::new_histogram;

    #[test]
    fn round_trip() {
        let mut h = new_histogram();
        for v in [1u64, 2, 900, 1500, 25_000, 3_600_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let text = encode_histogram(&h);
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.high(), h.high());
        assert_eq!(
            decode_histogram(&encode_histogram(&new_histogram()))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn uncompressed_v2_is_accepted() {
        let mut h = new_histogram();
        h.record(1234).unwrap();
        let mut bytes = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(&h, &mut bytes)
            .unwrap();
        assert_eq!(decode_histogram(&STANDARD.encode(bytes)).unwrap(), h);
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_histogram("%%%"),
            Err(HistogramDecodeError::Base64(_))
        ));
        for junk in [
            &[][..],
            &[0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 9, 1, 2],
            &[0x1c, 0x84, 0x93, 0x13, 0xff, 0xff, 0xff, 0xff],
            &[1, 2, 3, 4, 5],
        ] {
            assert!(
                decode_histogram(&STANDARD.encode(junk)).is_err(),
                "{junk:?}"
            );
        }
        // Valid encoding, one byte changed at every position: never panics.
        let mut h = new_histogram();
        for v in 1..200u64 {
            h.record(v * 37).unwrap();
        }
        let mut raw = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(&h, &mut raw)
            .unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0xa5;
            let _ = decode_histogram(&STANDARD.encode(&bad));
        }
    }
}
