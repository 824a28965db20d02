//! The growable buffer for secret bytes: zeroizes every allocation it leaves behind, including
//! before it grows. The serialisers that expose secret values live with their formats
//! (`protocol::login_json`, `record::entry_json`, `kubelet::response_json`).

use std::fmt;
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// A byte buffer for secret material. `Vec` growth copies into a new allocation and frees the old
/// one unerased; this buffer copies, then zeroizes the old allocation itself.
#[derive(Default)]
pub struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    pub fn with_capacity(n: usize) -> SecretBuf {
        SecretBuf(Zeroizing::new(Vec::with_capacity(n)))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn reserve(&mut self, extra: usize) {
        let need = self.0.len() + extra;
        if need <= self.0.capacity() {
            return;
        }
        let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(self.0.capacity() * 2)));
        bigger.extend_from_slice(&self.0);
        // The old allocation is zeroized (contents and spare capacity) when `Zeroizing` drops it.
        self.0 = bigger;
    }

    /// Reads `r` to EOF, failing once more than `limit` bytes arrive.
    pub fn read_capped(r: &mut impl Read, limit: usize) -> io::Result<Result<SecretBuf, usize>> {
        let mut buf = SecretBuf::with_capacity(8 * 1024);
        let mut chunk = Zeroizing::new([0u8; 8192]);
        loop {
            let n = match r.read(&mut chunk[..]) {
                Ok(0) => return Ok(Ok(buf)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.len() + n > limit {
                return Ok(Err(limit));
            }
            buf.reserve(n);
            buf.0.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Write for SecretBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.reserve(data.len());
        self.0.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf([REDACTED; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let mut buf = SecretBuf::default();
        buf.write_all(b"CANARY").unwrap();
        assert!(!format!("{buf:?}").contains("CANARY"));
    }

    #[test]
    fn read_capped_enforces_the_limit_and_keeps_large_inputs() {
        let big = vec![b'x'; 70 * 1024];
        let got = SecretBuf::read_capped(&mut &big[..], 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(got.as_slice(), &big[..]);
        let over = vec![b'x'; (1 << 20) + 1];
        assert_eq!(
            SecretBuf::read_capped(&mut &over[..], 1 << 20)
                .unwrap()
                .err(),
            Some(1 << 20)
        );
    }

    #[test]
    fn growth_keeps_contents() {
        let mut buf = SecretBuf::with_capacity(2);
        for i in 0..1000u32 {
            buf.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(buf.len(), 4000);
        assert_eq!(&buf.as_slice()[4..8], &1u32.to_le_bytes());
    }
}
