//! Which `Host` the board answers, against DNS rebinding.
//!
//! A hostile web page can point a name of its own (`evil.example`) at the board's address: the
//! browser then treats the board as part of `evil.example`, sends `Host: evil.example` and lets
//! the page read the answers, and the WebSocket's `Origin` (`http://evil.example`) matches that
//! `Host`. So a board without a token, on a LAN, could be read by any page a viewer opens.
//!
//! - With `--public-url`, the board, the API, the feed and sign-in answer only requests whose
//!   `Host` is that URL's; others get `421 Misdirected Request`. The feed's `Origin` must be the
//!   public URL's origin, and links the server builds use it.
//! - Without it, a server listening on loopback answers only `Host: localhost` or an IP address
//!   (a rebinding name is never an IP address); elsewhere any `Host` is answered, and the server
//!   warns at start unless a board token protects the reads.
//!
//! `/webhook` (signed), `/healthz`, `/readyz` and `/metrics` answer any `Host`: load balancers,
//! scrapers and GitHub name the server in their own ways, and nothing there is private.

use warp::{Filter, Rejection};

use crate::config::PublicUrl;

/// A request for another host than this board's; maps to `421`.
#[derive(Debug)]
pub struct Misdirected;

impl warp::reject::Reject for Misdirected {}

/// Which hosts a server answers.
#[derive(Debug, Clone)]
pub enum Hosts {
    /// Only the public URL's.
    Public(PublicUrl),
    /// `localhost` and IP addresses (a loopback listener without a public URL).
    Loopback,
    /// Any.
    Any,
}

impl Hosts {
    /// The rule for a server listening on `listen` with `public_url`.
    pub fn new(public_url: Option<&PublicUrl>, listen: std::net::SocketAddr) -> Self {
        match public_url {
            Some(url) => Self::Public(url.clone()),
            None if listen.ip().is_loopback() => Self::Loopback,
            None => Self::Any,
        }
    }

    /// Whether a request with this `Host` header is answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        match (self, host) {
            (Self::Any, _) => true,
            (Self::Public(url), Some(host)) => url.matches_host(host),
            (Self::Loopback, Some(host)) => {
                let name = strip_port(host);
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok()
            }
            (_, None) => false,
        }
    }

    /// Whether a browser's `Origin` header names this board: the public URL's origin, or without
    /// one, the host the request was sent to (`host`, its `Host` header). `null` never does.
    pub fn is_own_origin(&self, origin: &str, host: Option<&str>) -> bool {
        match (self, host) {
            (Self::Public(url), _) => origin.eq_ignore_ascii_case(url.origin()),
            (_, Some(host)) => origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
            (_, None) => false,
        }
    }

    /// The scheme and authority to build absolute links with: the public URL's, else `http://`
    /// and the request's `Host` when it is a plain host name or address with an optional port
    /// (anything else could smuggle text into a header); `None` for a relative link.
    pub fn origin(&self, host: Option<&str>) -> Option<String> {
        match self {
            Self::Public(url) => Some(url.origin().to_owned()),
            _ => host
                .filter(|host| is_authority(host) && self.allows(Some(host)))
                .map(|host| format!("http://{host}")),
        }
    }
}

/// `host` without a trailing `:port`.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        // An IPv6 literal without a port ends with `]`, and its colons are no port separator.
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A host name or IP address, with an optional port: nothing a header or a URL would read
/// differently.
fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Passes requests for an allowed host; rejects the others with [`Misdirected`].
pub fn allowed(hosts: Hosts) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and_then(move |host: Option<String>| {
            let allowed = hosts.allows(host.as_deref());
            if !allowed {
                tracing::info!(
                    ?host,
                    "refused a request for another host (if the board is reached by this name, \
                     e.g. through a reverse proxy, start it with --public-url naming it)"
                );
            }
            std::future::ready(if allowed {
                Ok(())
            } else {
                Err(warp::reject::custom(Misdirected))
            })
        })
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> Hosts {
        Hosts::Public(PublicUrl::parse("https://board.example.com").unwrap())
    }

    #[test]
    fn with_a_public_url_only_its_host_is_answered_and_links_use_it() {
        let hosts = public();
        assert!(hosts.allows(Some("board.example.com")));
        assert!(!hosts.allows(Some("evil.example")));
        assert!(!hosts.allows(None));
        assert_eq!(
            hosts.origin(Some("evil.example")).as_deref(),
            Some("https://board.example.com")
        );
    }

    #[test]
    fn a_loopback_server_answers_localhost_and_addresses_but_no_other_name() {
        let hosts = Hosts::new(None, "127.0.0.1:5000".parse().unwrap());
        assert!(hosts.allows(Some("localhost:5000")));
        assert!(hosts.allows(Some("127.0.0.1:5000")));
        assert!(hosts.allows(Some("[::1]:5000")));
        assert!(hosts.allows(Some("[::1]")));
        assert!(!hosts.allows(Some("evil.example:5000")));
        assert!(!hosts.allows(Some("127.0.0.1.evil.example")));
    }

    #[test]
    fn links_use_the_host_only_when_it_is_a_plain_authority() {
        let hosts = Hosts::new(None, "0.0.0.0:5000".parse().unwrap());
        assert_eq!(
            hosts.origin(Some("board:5000")).as_deref(),
            Some("http://board:5000")
        );
        assert_eq!(hosts.origin(Some("x>; rel=\"evil\", <http://y")), None);
        assert_eq!(hosts.origin(None), None);
    }
}
