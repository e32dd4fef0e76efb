//! What the operator opens on purpose (`SSRF_ALLOWLIST`): CIDR blocks (`10.20.0.0/16`,
//! `fd00:1::/64`) and host names (`intranet.example.com`). An address in a listed block may be
//! reached although it is private; a listed host name may resolve to any address. Nothing is
//! open by default, and nothing beyond what is named: no wildcards.

use std::net::IpAddr;

/// A CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a CIDR block (address/prefix)"))?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{text}`: the prefix must be 0 to {max}"))?;
        let cidr = Cidr { network, prefix };
        if cidr.mask(network) != network {
            return Err(format!(
                "`{text}` has host bits set; the block is `{}/{prefix}`",
                cidr.mask(network)
            ));
        }
        Ok(cidr)
    }

    fn mask(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// IPv4-mapped IPv6 addresses are compared as the IPv4 address they carry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.mask(ip) == self.network
    }
}

/// The operator's exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exceptions {
    cidrs: Vec<Cidr>,
    hosts: Vec<String>,
}

impl Exceptions {
    /// A comma- or space-separated list of CIDR blocks and host names.
    pub fn parse(list: &str) -> Result<Exceptions, String> {
        let mut out = Exceptions::default();
        for item in list
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if item.contains('/') {
                out.cidrs.push(Cidr::parse(item)?);
            } else if item.parse::<IpAddr>().is_ok() {
                return Err(format!(
                    "`{item}`: write a single address as a block (`{item}/32` or `/128`)"
                ));
            } else if item.contains('*')
                || item.contains(':')
                || !item.contains('.') && item != "localhost"
            {
                return Err(format!(
                    "`{item}` is not a host name or CIDR block (no wildcards, ports or schemes)"
                ));
            } else {
                out.hosts.push(item.to_ascii_lowercase());
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.cidrs.is_empty() && self.hosts.is_empty()
    }

    pub fn covers_ip(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(ip))
    }

    pub fn covers_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_hosts() {
        let e = Exceptions::parse("10.20.0.0/16, fd00:1::/64 intranet.example.com").unwrap();
        assert!(e.covers_ip("10.20.3.4".parse().unwrap()));
        assert!(e.covers_ip("::ffff:10.20.3.4".parse().unwrap()));
        assert!(!e.covers_ip("10.21.0.1".parse().unwrap()));
        assert!(e.covers_ip("fd00:1::5".parse().unwrap()));
        assert!(!e.covers_ip("fd00:2::5".parse().unwrap()));
        assert!(e.covers_host("INTRANET.example.com."));
        assert!(!e.covers_host("evil-intranet.example.com"));
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "10.0.0.1/8",
            "*.example.com",
            "host:80",
            "nodots",
        ] {
            assert!(Exceptions::parse(bad).is_err(), "{bad}");
        }
        assert!(Exceptions::parse("").unwrap().is_empty());
    }
}
