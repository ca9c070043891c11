//! A `--scrape` URL, checked before any load: http or https, a host, and
//! a path (`/metrics` when none is given, as Prometheus assumes).

use crate::rocketchat::http1::Origin;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeUrl {
    /// As given on the command line.
    url: String,
    https: bool,
    host: String,
    port: u16,
    /// `host[:port]` as the `Host` header writes it.
    authority: String,
    /// Path and query, e.g. `/metrics`.
    path: String,
}

impl ScrapeUrl {
    /// The URL, or why it cannot be scraped (for a flag's error).
    pub fn parse(s: &str) -> Result<ScrapeUrl, String> {
        let url = url::Url::parse(s).map_err(|e| format!("`{s}`: {e}"))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "`{s}`: scheme `{other}` is not http or https; expected e.g. http://10.0.0.5:9458/metrics"
                ));
            }
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(format!(
                "`{s}`: no host; expected e.g. http://10.0.0.5:9458/metrics"
            ));
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut path = match url.path() {
            "" | "/" => "/metrics".to_string(),
            p => p.to_string(),
        };
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(ScrapeUrl {
            url: s.to_string(),
            https,
            host: host.to_string(),
            port,
            authority,
            path,
        })
    }

    /// As given.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// `host:port` (the port always written): how series name their source.
    pub fn source(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn origin(&self) -> Origin {
        Origin {
            https: self.https,
            host: self.host.clone(),
            port: self.port,
            url: format!(
                "{}://{}",
                if self.https { "https" } else { "http" },
                self.authority
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_source_and_default_the_path() {
        let u = ScrapeUrl::parse("http://10.0.0.5:9458").unwrap();
        assert_eq!(
            (u.source().as_str(), u.path()),
            ("10.0.0.5:9458", "/metrics")
        );
        let u = ScrapeUrl::parse("https://rc.example.org/custom/metrics?x=1").unwrap();
        assert_eq!(u.source(), "rc.example.org:443");
        assert_eq!(u.path(), "/custom/metrics?x=1");
        assert_eq!(u.authority(), "rc.example.org");
        let u = ScrapeUrl::parse("http://[::1]:9100/metrics").unwrap();
        assert_eq!(u.source(), "[::1]:9100");
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(
            ScrapeUrl::parse("not-a-url")
                .unwrap_err()
                .contains("not-a-url")
        );
        let e = ScrapeUrl::parse("ftp://host/metrics").unwrap_err();
        assert!(e.contains("not http or https"), "{e}");
        assert!(ScrapeUrl::parse("http://").is_err());
    }
}
