//! The address of the client behind a request. It is the TCP peer, unless that peer is one of
//! the reverse proxies listed in `HERALD_TRUSTED_PROXIES`: then `X-Forwarded-For` is read from
//! right to left (each proxy appends the address it received the request from), skipping the
//! trusted proxies, and the first address that is not one of them is the client. Entries to
//! the left of it were written by the client itself and are never believed.

use std::fmt;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use super::state::AppState;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Extracts the client's address (see the module docs); it never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// The client address of `req` given these trusted proxies.
    pub fn of(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Self {
        // Herald only listens on TCP, so a peer address is always there; the unspecified
        // address stands in for a request built without one (unit tests).
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        let forwarded_for: Vec<String> = req
            .headers()
            .get_all(X_FORWARDED_FOR)
            // Lossy, so one bad byte spoils only the entry it is in.
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        Self(resolve(peer, &forwarded_for, trusted_proxies))
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for ClientAddress {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map_or(&[][..], |state| &state.settings.trusted_proxies[..]);
        ready(Ok(Self::of(req, trusted)))
    }
}

/// The client address for a request from `peer` carrying these `X-Forwarded-For` header
/// values (in the order received).
pub fn resolve(peer: IpAddr, forwarded_for: &[String], trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |addr: &IpAddr| trusted_proxies.iter().any(|net| net.contains(addr));
    let mut client = peer.to_canonical();
    if !trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        // An entry that is not an address ends the walk at the last proxy that vouched for it.
        let Some(addr) = parse_hop(hop) else { break };
        client = addr;
        if !trusted(&addr) {
            break;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, and the forms with a port some proxies write
/// (`203.0.113.7:51234`, `[2001:db8::1]:51234`) or brackets alone (`[2001:db8::1]`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let addr = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            hop.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(addr.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        // As HERALD_TRUSTED_PROXIES is read: a bare address is one host.
        list.iter()
            .map(|net| {
                net.parse()
                    .unwrap_or_else(|_| IpNet::from(net.parse::<IpAddr>().unwrap()))
            })
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let got = resolve(ip("198.51.100.4"), &headers(&["203.0.113.7"]), &[]);
        assert_eq!(got, ip("198.51.100.4"));
    }

    #[test]
    fn a_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(ip("198.51.100.4"), &headers(&["203.0.113.7"]), &trusted);
        assert_eq!(got, ip("198.51.100.4"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_it_received_the_request_from() {
        let trusted = nets(&["10.0.0.1"]);
        let got = resolve(ip("10.0.0.1"), &headers(&["203.0.113.7"]), &trusted);
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn the_walk_goes_right_to_left_skipping_trusted_proxies_and_ignores_what_the_client_wrote() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1"]);
        // The client wrote "1.1.1.1" itself; 203.0.113.7 reached the outer proxy (10.1.1.1),
        // which reached the inner one (192.168.1.1), which connected to Herald.
        let got = resolve(
            ip("192.168.1.1"),
            &headers(&["1.1.1.1, 203.0.113.7", "10.1.1.1"]),
            &trusted,
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(ip("10.0.0.1"), &headers(&["10.9.9.9, 10.0.0.2"]), &trusted);
        assert_eq!(got, ip("10.9.9.9"));
    }

    #[test]
    fn a_garbage_entry_stops_the_walk_at_the_last_proxy_that_vouched() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(
            ip("10.0.0.1"),
            &headers(&["203.0.113.7, not-an-ip, 10.0.0.2"]),
            &trusted,
        );
        assert_eq!(got, ip("10.0.0.2"));
        // No header at all, or an empty one: the proxy itself.
        assert_eq!(resolve(ip("10.0.0.1"), &[], &trusted), ip("10.0.0.1"));
        assert_eq!(
            resolve(ip("10.0.0.1"), &headers(&[""]), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ports_brackets_and_ipv4_mapped_addresses_are_understood() {
        let trusted = nets(&["10.0.0.1", "2001:db8::1"]);
        for (peer, header, client) in [
            ("10.0.0.1", "203.0.113.7:51234", "203.0.113.7"),
            ("10.0.0.1", "[2001:db8::7]:443", "2001:db8::7"),
            ("10.0.0.1", "[2001:db8::7]", "2001:db8::7"),
            ("::ffff:10.0.0.1", " ::ffff:203.0.113.7 ", "203.0.113.7"),
            ("2001:db8::1", "203.0.113.7", "203.0.113.7"),
        ] {
            assert_eq!(
                resolve(ip(peer), &headers(&[header]), &trusted),
                ip(client),
                "{peer} sent {header:?}"
            );
        }
    }
}
