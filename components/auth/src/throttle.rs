//! The arithmetic of sign-in throttling, without storage: who a client is
//! (its address, and the key its failures are counted under), fixed-window
//! lock-outs and the progressive delay of an account under attack.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The client's IP address from Spin's `spin-client-addr` header
/// (`192.0.2.1:5000`, `[2001:db8::1]:443`, or a bare address); the text as
/// given when it is none of these.
pub fn client_ip(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(socket) = raw.parse::<SocketAddr>() {
        return canonical(socket.ip()).to_string();
    }
    let bare = raw.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => canonical(ip).to_string(),
        Err(_) => raw.to_string(),
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What failures are counted under for a client address: an IPv4 address as
/// it is, an IPv6 address by its /64 (one subscriber's allocation, whose
/// addresses it can rotate through freely), e.g. `2001:db8:1:2::/64`.
/// Anything that is not an address is kept as given.
pub fn address_key(address: &str) -> String {
    let ip = client_ip(address);
    match ip.parse::<IpAddr>() {
        Ok(parsed) => ip_key(parsed),
        Err(_) => ip,
    }
}

/// [`address_key`] of an address already parsed (the host's rate limits key
/// clients by it too, so both count the same client alike).
pub fn ip_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The fixed window `now` falls in.
pub fn window_of(now_unix: i64, window_secs: i64) -> i64 {
    now_unix.div_euclid(window_secs.max(1))
}

/// Whether a subject with `previous` failures in the window before this one
/// and `current` in this one is locked (a failure counts for one to two
/// windows), and if so the seconds until it is not.
pub fn locked_for(
    previous: i64,
    current: i64,
    max: i64,
    now_unix: i64,
    window_secs: i64,
) -> Option<i64> {
    if previous + current < max {
        return None;
    }
    let window = window_of(now_unix, window_secs);
    // While this window's failures alone reach the limit, they still do
    // from the next window, as its previous one.
    let until = if current >= max {
        window + 2
    } else {
        window + 1
    };
    Some((until * window_secs - now_unix).max(1))
}

/// The progressive delay of an account with `failures` recent failures:
/// none below `threshold`, then 1 s, 2 s, 4 s... doubling with each
/// failure, at most `cap_secs`.
pub fn progressive_delay_secs(failures: i64, threshold: i64, cap_secs: i64) -> Option<i64> {
    if failures < threshold {
        return None;
    }
    let exponent = (failures - threshold).min(62) as u32;
    Some(1i64.checked_shl(exponent).unwrap_or(i64::MAX).min(cap_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_drops_the_port_and_brackets() {
        assert_eq!(client_ip("192.0.2.1:5000"), "192.0.2.1");
        assert_eq!(client_ip("192.0.2.1"), "192.0.2.1");
        assert_eq!(client_ip("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(client_ip("2001:db8::1"), "2001:db8::1");
        assert_eq!(client_ip("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(client_ip("[::ffff:192.0.2.9]:80"), "192.0.2.9");
        assert_eq!(client_ip(""), "");
        assert_eq!(client_ip("not an address"), "not an address");
    }

    #[test]
    fn ipv4_addresses_key_as_they_are() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn ipv6_addresses_key_by_their_64() {
        let key = address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        assert_eq!(key, "2001:db8:1:2::/64");
        assert_eq!(address_key("[2001:db8:1:2::99]:443"), key);
        assert_eq!(address_key("2001:0db8:0001:0002:0:0:0:1"), key);
        assert_ne!(address_key("2001:db8:1:3::1"), key);
        assert_eq!(address_key("::1"), "::/64");
        assert_eq!(address_key("fe80::1"), "fe80::/64");
    }

    #[test]
    fn other_text_keys_as_given() {
        assert_eq!(address_key(""), "");
        assert_eq!(address_key("unix:/tmp/s"), "unix:/tmp/s");
    }

    #[test]
    fn lock_outs_last_until_the_failures_leave_the_windows() {
        let w = 900;
        let now = 10 * w + 100;
        assert_eq!(locked_for(0, 4, 5, now, w), None);
        assert_eq!(locked_for(2, 2, 5, now, w), None);
        // Reached with the previous window's help: free when it drops out.
        assert_eq!(locked_for(3, 2, 5, now, w), Some(800));
        // Reached in this window alone: it counts through the next one too.
        assert_eq!(locked_for(0, 5, 5, now, w), Some(800 + 900));
        assert_eq!(locked_for(0, 9, 5, 11 * w - 1, w), Some(1 + 900));
    }

    #[test]
    fn the_delay_doubles_up_to_its_cap() {
        assert_eq!(progressive_delay_secs(0, 5, 60), None);
        assert_eq!(progressive_delay_secs(4, 5, 60), None);
        assert_eq!(progressive_delay_secs(5, 5, 60), Some(1));
        assert_eq!(progressive_delay_secs(6, 5, 60), Some(2));
        assert_eq!(progressive_delay_secs(10, 5, 60), Some(32));
        assert_eq!(progressive_delay_secs(11, 5, 60), Some(60));
        assert_eq!(progressive_delay_secs(1_000, 5, 60), Some(60));
        assert_eq!(progressive_delay_secs(i64::MAX, 5, 60), Some(60));
    }
}
