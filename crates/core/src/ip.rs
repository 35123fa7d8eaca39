//! IP address ranges as written in `ip` rules and IP lists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, excerpt};

/// An IPv4 or IPv6 range: a CIDR (`192.168.100.1/24`, `2001:db8::/32`) or a bare address, which
/// stands for that one address (`/32` or `/128`).
///
/// The text is kept as the operator wrote it (trimmed) so that configuration read back and
/// explanations show the same value; host bits after the prefix are allowed, as in Cloudflare's
/// own example, and ignored when matching.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpRange {
    text: String,
    net: IpNet,
}

impl IpRange {
    /// Reads an address or CIDR range.
    ///
    /// Returns an error naming the input when it is neither, or when the prefix length is longer
    /// than the address (33 and up for IPv4, 129 and up for IPv6).
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let text = input.trim();
        let fail = |reason: String| CoreError::InvalidIpRange {
            input: excerpt(input),
            reason,
        };
        let net = match text.split_once('/') {
            Some((address, prefix)) => {
                let address: IpAddr = address.parse().map_err(|_| {
                    fail(format!(
                        "{:?} is not an IPv4 or IPv6 address; write e.g. 192.168.100.0/24 or \
                         2001:db8::/32",
                        excerpt(address)
                    ))
                })?;
                let max = if address.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|length| *length <= max)
                    .ok_or_else(|| {
                        fail(format!(
                            "the prefix length after '/' must be a number from 0 to {max}"
                        ))
                    })?;
                IpNet::new(address, prefix)
                    .map_err(|_| fail(format!("prefix length {prefix} is longer than {max}")))?
            }
            None => IpNet::from(IpAddr::from_str(text).map_err(|_| {
                fail(
                    "expected an IPv4 or IPv6 address or a CIDR range such as 192.168.100.0/24 \
                     or 2001:db8::/32"
                        .to_owned(),
                )
            })?),
        };
        Ok(Self {
            text: text.to_owned(),
            net,
        })
    }

    /// Whether `address` is inside the range. A client address in IPv4-mapped IPv6 form
    /// (`::ffff:192.0.2.1`, what a dual-stack listener reports for IPv4 clients) is compared
    /// as the IPv4 address it carries.
    pub fn contains(&self, address: IpAddr) -> bool {
        net_contains(&self.net, address)
    }

    /// The range as a network (host bits kept as written).
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// The range as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// [`IpRange::contains`] for a bare network, shared with IP lists.
pub(crate) fn net_contains(net: &IpNet, address: IpAddr) -> bool {
    if net.contains(&address) {
        return true;
    }
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .is_some_and(|v4| net.contains(&IpAddr::V4(v4))),
        IpAddr::V4(_) => false,
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for IpRange {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for IpRange {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IpRange> for String {
    fn from(value: IpRange) -> Self {
        value.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidr_and_bare_addresses() {
        let range = IpRange::parse("192.168.100.1/24").unwrap();
        assert_eq!(range.as_str(), "192.168.100.1/24");
        assert!(range.contains(ip("192.168.100.200")));
        assert!(range.contains(ip("192.168.100.0")));
        assert!(!range.contains(ip("192.168.101.1")));

        let single = IpRange::parse(" 10.0.0.7 ").unwrap();
        assert_eq!(single.to_string(), "10.0.0.7");
        assert_eq!(single.net().prefix_len(), 32);
        assert!(single.contains(ip("10.0.0.7")));
        assert!(!single.contains(ip("10.0.0.8")));

        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("192.168.100.1")));
        assert_eq!(IpRange::parse("::1").unwrap().net().prefix_len(), 128);
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_ranges() {
        let range = IpRange::parse("192.0.2.0/24").unwrap();
        assert!(range.contains(ip("::ffff:192.0.2.9")));
        assert!(!range.contains(ip("::ffff:198.51.100.1")));
        // An IPv4-compatible (deprecated) address is not a mapped one.
        assert!(!range.contains(ip("::192.0.2.9")));
    }

    #[test]
    fn bad_input_is_named() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "2001:db8::/129",
            "example.com",
            "10.0.0.0/8/8",
        ] {
            let err = IpRange::parse(bad).unwrap_err().to_string();
            assert!(err.contains("invalid IP address or range"), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        let err = IpRange::parse("10.0.0.0/33").unwrap_err().to_string();
        assert!(err.contains("0 to 32"), "{err}");
    }

    #[test]
    fn serde_keeps_the_written_form() {
        let range: IpRange = serde_json::from_str("\"192.168.100.1/24\"").unwrap();
        assert_eq!(
            serde_json::to_string(&range).unwrap(),
            "\"192.168.100.1/24\""
        );
        let err = serde_json::from_str::<IpRange>("\"300.1.1.1\"").unwrap_err();
        assert!(err.to_string().contains("300.1.1.1"), "{err}");
    }
}
