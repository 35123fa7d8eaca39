//! Request ids: 16 hexadecimal characters, unique within a process, shown on error pages, in
//! `x-request-id` and in logs (Cloudflare calls it the Ray ID).
//!
//! They are made on every request, so they cost no allocation and no system call: a random
//! per-process seed plus a counter, mixed so that consecutive ids do not look consecutive.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A request id, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

static SEED: OnceLock<u64> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// SplitMix64's finaliser: a bijection, so distinct counters give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestId {
    /// The next id of this process.
    pub fn next() -> RequestId {
        let seed = *SEED.get_or_init(|| {
            crate::seal::random_bytes::<8>()
                .map(u64::from_le_bytes)
                .unwrap_or(0x5eed)
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        RequestId::from_u64(mix(seed.wrapping_add(n)))
    }

    pub fn from_u64(v: u64) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
        }
        RequestId(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        assert_eq!(
            RequestId::from_u64(0xdead_beef).as_str(),
            "00000000deadbeef"
        );
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| RequestId::next().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|i| i.len() == 16 && i.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
