//! Outbound safety: Herald posts to URLs typed by administrators, so it must not become a way
//! into the network it runs in. Every address a request would connect to is checked, after
//! DNS resolution, by the resolver the HTTP client uses (so DNS rebinding cannot slip a
//! private address in between the check and the connection); IP literals, which skip the
//! resolver, are checked before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused, or `None` when it is a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return Some("a cloud metadata address");
    }
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() || a >= 240 => "a reserved address",
        _ if a == 100 && (64..128).contains(&b) => "a shared (carrier-grade NAT) address",
        _ if a == 192 && b == 0 && c == 0 => "a reserved address",
        _ if a == 198 && (b == 18 || b == 19) => "a benchmarking address",
        _ if ip.is_documentation() => "a documentation address",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    if ip == "fd00:ec2::254".parse::<Ipv6Addr>().unwrap() {
        return Some("a cloud metadata address");
    }
    // Addresses that embed an IPv4 address are judged by it: NAT64 (64:ff9b::/96) and
    // IPv4-translated SIIT (::ffff:0:0:0/96, `::ffff:0:a.b.c.d`), whose translator forwards to
    // the embedded address as surely as the IPv4-mapped form above; 6to4 below.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..6] == [0, 0, 0, 0, 0xffff, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return forbidden_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if segments[0] == 0x2002 {
        let v4 = Ipv4Addr::from((u32::from(segments[1]) << 16) | u32::from(segments[2]));
        return forbidden_v4(v4);
    }
    Some(match () {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_unique_local() => "a private (unique local) address",
        _ if ip.is_unicast_link_local() || (segments[0] & 0xffc0) == 0xfec0 => {
            "a link-local address"
        }
        // IPv4-compatible (deprecated), Teredo, documentation and discard-only ranges.
        _ if segments[..6] == [0, 0, 0, 0, 0, 0] => "a reserved address",
        // RFC 8215: NAT64 prefixes a network chose for itself, leading into it.
        _ if segments[..3] == [0x64, 0xff9b, 1] => "a local-use NAT64 address",
        _ if segments[0] == 0x2001 && segments[1] == 0 => "a Teredo tunnel address",
        _ if segments[0] == 0x2001 && segments[1] == 0xdb8 => "a documentation address",
        _ if segments[..4] == [0x100, 0, 0, 0] => "a discard-only address",
        _ => return None,
    })
}

/// A refused destination; the message is what the attempt history shows.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refused target: {host} resolves to {address}, {reason} (allow it with HERALD_ALLOW_PRIVATE_TARGETS)"
)]
pub struct RefusedTarget {
    pub host: String,
    pub address: IpAddr,
    pub reason: &'static str,
}

/// Which addresses may be connected to: public ones, plus the allowlist.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Arc<Vec<IpNet>>,
}

impl TargetPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), RefusedTarget> {
        let ip = canonical(ip);
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            None => Ok(()),
            Some(reason) => Err(RefusedTarget {
                host: host.to_owned(),
                address: ip,
                reason,
            }),
        }
    }

    /// Checks a URL whose host is an IP literal (those never reach the resolver).
    pub fn check_url(&self, url: &url::Url) -> Result<(), RefusedTarget> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(&v4.to_string(), IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(&v6.to_string(), IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }
}

/// `::ffff:10.0.0.1` is 10.0.0.1 for every rule and for the allowlist.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The HTTP client's resolver: the system's answers, minus every refused address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(&host, addr.ip()) {
                    Ok(()) => true,
                    Err(refused) => {
                        refusal.get_or_insert(refused);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refusal) {
                (true, Some(refused)) => Err(Box::new(refused) as _),
                (true, None) => Err(format!("{host} has no addresses").into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Finds a refusal anywhere in an error's chain of causes.
pub fn refusal_in(err: &(dyn std::error::Error + 'static)) -> Option<RefusedTarget> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(refused) = err.downcast_ref::<RefusedTarget>() {
            return Some(refused.clone());
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        TargetPolicy::default()
            .check("h", raw.parse().unwrap())
            .is_err()
    }

    #[test]
    fn internal_ipv4_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "100.100.100.200",
            "198.18.0.1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1"] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn internal_ipv6_addresses_are_refused_including_embedded_ipv4() {
        for ip in [
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
        assert!(!refused("2606:4700::1111"));
        assert!(!refused("64:ff9b::808:808"));
    }

    #[test]
    fn ipv4_translated_siit_addresses_are_judged_by_their_ipv4_address() {
        for ip in [
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "::ffff:0:169.254.169.254",
            "::ffff:0:192.168.1.1",
            "::ffff:0:0.0.0.0",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
        let reason = forbidden_reason("::ffff:0:127.0.0.1".parse().unwrap());
        assert_eq!(reason, Some("a loopback address"));
        assert!(!refused("::ffff:0:8.8.8.8"));
        assert!(!refused("::ffff:0:93.184.216.34"));
    }

    #[test]
    fn ipv4_mapped_addresses_stay_judged_by_their_ipv4_address() {
        assert_eq!(
            forbidden_reason("::ffff:127.0.0.1".parse().unwrap()),
            Some("a loopback address")
        );
        assert_eq!(
            forbidden_reason("::ffff:169.254.169.254".parse().unwrap()),
            Some("a cloud metadata address")
        );
        assert!(!refused("::ffff:8.8.8.8"));
    }

    #[test]
    fn the_local_use_nat64_prefix_is_refused_whatever_it_embeds() {
        for ip in ["64:ff9b:1::", "64:ff9b:1::808:808", "64:ff9b:1:ffff::1"] {
            assert_eq!(
                forbidden_reason(ip.parse().unwrap()),
                Some("a local-use NAT64 address"),
                "{ip}"
            );
        }
        // The well-known prefix keeps being judged by the embedded address.
        assert!(!refused("64:ff9b::808:808"));
    }

    #[test]
    fn the_allowlist_opens_exactly_its_networks() {
        let policy = TargetPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(policy.check("h", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(
            policy
                .check("h", "::ffff:127.0.0.1".parse().unwrap())
                .is_ok()
        );
        assert!(policy.check("h", "127.0.0.2".parse().unwrap()).is_err());
        let err = policy
            .check("metadata", "169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("cloud metadata"), "{err}");
    }

    #[test]
    fn ip_literal_urls_are_checked_without_dns() {
        let policy = TargetPolicy::default();
        let url = url::Url::parse("http://[::1]:8080/x").unwrap();
        assert!(policy.check_url(&url).is_err());
        // The URL parser normalises odd spellings of loopback before the check sees them.
        let url = url::Url::parse("http://2130706433/x").unwrap();
        assert!(policy.check_url(&url).is_err());
        let url = url::Url::parse("http://[::ffff:0:7f00:1]/x").unwrap();
        assert!(policy.check_url(&url).is_err());
        let url = url::Url::parse("https://hooks.example.com/x").unwrap();
        assert!(policy.check_url(&url).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let resolver = GuardedResolver {
            policy: TargetPolicy::default(),
        };
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Err(err) => err,
            Ok(_) => panic!("localhost must be refused"),
        };
        let refused = refusal_in(err.as_ref()).expect("a refusal");
        assert!(refused.address.is_loopback());
        let open = GuardedResolver {
            policy: TargetPolicy::new(vec![
                "127.0.0.0/8".parse().unwrap(),
                "::1/128".parse().unwrap(),
            ]),
        };
        let addrs: Vec<_> = match open.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => addrs.collect(),
            Err(err) => panic!("{err}"),
        };
        assert!(!addrs.is_empty());
    }
}
