//! Who the client is: the TCP peer, unless the peer is a trusted proxy, in
//! which case `Forwarded` (RFC 7239) or `X-Forwarded-For` is read from the
//! right, skipping trusted hops, and the first untrusted address is the
//! client. A header from an untrusted peer is ignored: anyone can send one.

use std::net::{IpAddr, SocketAddr};

use folio_auth::throttle::canonical;
use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> anyhow::Result<TrustedProxies> {
        let networks = entries
            .iter()
            .map(|entry| parse_network(entry))
            .collect::<anyhow::Result<_>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client's address, as a socket address (port 0 when a proxy named it).
    pub fn client_address(&self, peer: SocketAddr, headers: &http::HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        // The right-most hop was added by the proxy we trust; walk left past
        // every proxy we trust to the first address that is not one.
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.contains(*ip) => continue,
                Some(ip) => return SocketAddr::new(canonical(*ip), 0),
                // An obfuscated or malformed hop: nothing to its left can be believed.
                None => return peer,
            }
        }
        peer
    }
}

pub fn parse_network(entry: &str) -> anyhow::Result<IpNet> {
    let entry = entry.trim();
    if let Ok(net) = entry.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    entry
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| anyhow::anyhow!("`{entry}` is neither an IP address nor a network (CIDR)"))
}

/// What rate limits key a client by: its IPv4 address, or its IPv6 /64
/// (one subscriber's whole allocation, which it can rotate freely); the
/// users service keys its lockouts the same way.
pub use folio_auth::throttle::ip_key as address_key;

/// The hops of `Forwarded` if present, else of `X-Forwarded-For`, left to
/// right; `None` for a hop that is not an IP address.
fn forwarded_hops(headers: &http::HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (name, value) = pair.trim().split_once('=')?;
                        name.eq_ignore_ascii_case("for").then_some(value)
                    })
                    .and_then(parse_forwarded_node)
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| parse_forwarded_node(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:8080`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_forwarded_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_name_the_client() {
        let peer: SocketAddr = "198.51.100.9:4000".parse().unwrap();
        let spoof = headers(&[("x-forwarded-for", "203.0.113.1")]);
        assert_eq!(proxies(&[]).client_address(peer, &spoof), peer);
        assert_eq!(proxies(&["10.0.0.0/8"]).client_address(peer, &spoof), peer);
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        let peer: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        // The client put a fake address first; the proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.9.9.9")]);
        assert_eq!(
            trusted.client_address(peer, &h).ip().to_string(),
            "203.0.113.7"
        );
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8::5]:443\";proto=https",
        )]);
        assert_eq!(
            trusted.client_address(peer, &h).ip().to_string(),
            "2001:db8::5"
        );
        // Only trusted hops: the left-most proxy's peer is all we know.
        let h = headers(&[("x-forwarded-for", "10.0.0.1")]);
        assert_eq!(trusted.client_address(peer, &h), peer);
        let h = headers(&[("x-forwarded-for", "unknown, 203.0.113.7")]);
        assert_eq!(
            trusted.client_address(peer, &h).ip().to_string(),
            "203.0.113.7"
        );
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(trusted.client_address(peer, &h), peer);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("2001:db8:1:2:bbbb:cccc::9".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(address_key("192.0.2.4".parse().unwrap()), "192.0.2.4");
        assert_eq!(
            address_key("::ffff:192.0.2.4".parse().unwrap()),
            "192.0.2.4"
        );
        assert!(parse_network("nonsense").is_err());
        assert!(proxies(&["127.0.0.1"]).contains("::ffff:127.0.0.1".parse().unwrap()));
    }
}
