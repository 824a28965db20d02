//! The file format of one local copy of the shared store (src/store/cached.rs): the sealed bytes
//! the database returned and when it confirmed them, behind a magic, a version and a kind.

use crate::store::postgres::METAS;
use crate::store::Meta;
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"B9SC";
const VERSION: u8 = 1;

/// One copy as read back: when the database confirmed it, and what it held then.
pub(super) struct Copy<T> {
    pub(super) confirmed_at: u64,
    pub(super) value: T,
}

pub(super) type Records = BTreeMap<Meta, Vec<u8>>;

fn header(kind: u8, confirmed_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&confirmed_at.to_be_bytes());
    out
}

/// `B9SC 1 'e' confirmed_at(u64 BE) present(u8) sealed...`
pub(super) fn encode_entry(confirmed_at: u64, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = header(b'e', confirmed_at);
    match value {
        Some(b) => {
            out.push(1);
            out.extend_from_slice(b);
        }
        None => out.push(0),
    }
    out
}

fn parse_header(b: &[u8], kind: u8) -> Option<(u64, &[u8])> {
    if b.len() < 14 || &b[..4] != MAGIC || b[4] != VERSION || b[5] != kind {
        return None;
    }
    let at = u64::from_be_bytes(b[6..14].try_into().ok()?);
    Some((at, &b[14..]))
}

pub(super) fn decode_entry(b: &[u8]) -> Option<Copy<Option<Vec<u8>>>> {
    let (confirmed_at, rest) = parse_header(b, b'e')?;
    let value = match rest.split_first()? {
        (0, []) => None,
        (1, bytes) => Some(bytes.to_vec()),
        _ => return None,
    };
    Some(Copy {
        confirmed_at,
        value,
    })
}

/// `B9SC 1 'b' confirmed_at(u64 BE)`, then per base record in [`METAS`] order:
/// `present(u8) [len(u32 BE) sealed...]`.
pub(super) fn encode_base(confirmed_at: u64, records: &Records) -> Vec<u8> {
    let mut out = header(b'b', confirmed_at);
    for m in METAS {
        match records.get(&m) {
            Some(b) => {
                out.push(1);
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.push(0),
        }
    }
    out
}

pub(super) fn decode_base(b: &[u8]) -> Option<Copy<Records>> {
    let (confirmed_at, mut rest) = parse_header(b, b'b')?;
    let mut value = Records::new();
    for m in METAS {
        let (&present, r) = rest.split_first()?;
        rest = r;
        if present == 1 {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            value.insert(m, rest.get(4..4 + len)?.to_vec());
            rest = &rest[4 + len..];
        }
    }
    rest.is_empty().then_some(Copy {
        confirmed_at,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_trip_and_reject_damage() {
        let e = encode_entry(42, Some(b"sealed"));
        let c = decode_entry(&e).unwrap();
        assert_eq!(
            (c.confirmed_at, c.value.as_deref()),
            (42, Some(&b"sealed"[..]))
        );
        assert!(decode_entry(&encode_entry(1, None))
            .unwrap()
            .value
            .is_none());
        let mut r = Records::new();
        r.insert(Meta::KeyCheck, b"kc".to_vec());
        r.insert(Meta::RotationPrev, b"".to_vec());
        let b = decode_base(&encode_base(7, &r)).unwrap();
        assert_eq!((b.confirmed_at, b.value), (7, r));
        assert!(decode_entry(&e[..10]).is_none());
        assert!(decode_base(&e).is_none());
        let mut bad = encode_base(7, &Records::new());
        bad.push(0);
        assert!(decode_base(&bad).is_none());
    }
}
