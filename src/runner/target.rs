//! What was measured: the target's URLs and what its `/api/info` says,
//! including whether its release is still supported, where the server
//! ships Rocket.Chat's signed list of supported versions.

use std::time::SystemTime;

use base64::Engine;
use serde_json::Value;

use crate::engine::ServerInfo;
use crate::results::TargetInfo;

impl TargetInfo {
    /// From the target check of every instance.
    pub fn of(infos: &[ServerInfo], embedded: bool) -> TargetInfo {
        let version = infos.first().map(|i| i.version.clone());
        let support = infos
            .iter()
            .find_map(|i| i.supported_versions.as_deref())
            .zip(version.as_deref())
            .and_then(|(jwt, v)| support_of(jwt, v, SystemTime::now()));
        TargetInfo {
            urls: infos.iter().map(|i| i.url.clone()).collect(),
            instances: infos.len() as u32,
            embedded,
            rocketchat_version: version,
            version_supported: support.as_ref().map(|s| s.0),
            supported_until: support.map(|s| s.1),
            ..TargetInfo::default()
        }
    }
}

/// (supported now, expiration) of `version` in the `supportedVersions`
/// token. The signature is not checked: the answer is reported, not
/// trusted for anything. None when the token does not list the release.
fn support_of(jwt: &str, version: &str, now: SystemTime) -> Option<(bool, String)> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let body: Value = serde_json::from_slice(&bytes).ok()?;
    let wanted = major_minor(version)?;
    body.get("versions")?.as_array()?.iter().find_map(|v| {
        if major_minor(v.get("version")?.as_str()?)? != wanted {
            return None;
        }
        let expiration = v.get("expiration")?.as_str()?;
        let until = humantime::parse_rfc3339_weak(expiration.trim_end_matches('Z'))
            .or_else(|_| humantime::parse_rfc3339(expiration))
            .ok()?;
        Some((until > now, expiration.to_string()))
    })
}

fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts
        .next()
        .and_then(|m| m.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn token(payload: &str) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"RS256"}"#),
            enc.encode(payload)
        )
    }

    #[test]
    fn support_is_read_from_the_signed_list() {
        let jwt = token(
            r#"{"versions":[{"version":"6.5.0","expiration":"2024-06-30T00:00:00.000Z"},
                {"version":"7.10.0","expiration":"2027-01-31T00:00:00.000Z"}]}"#,
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000); // 2026-05
        assert_eq!(
            support_of(&jwt, "7.10", now),
            Some((true, "2027-01-31T00:00:00.000Z".into()))
        );
        assert_eq!(support_of(&jwt, "6.5.3", now).map(|s| s.0), Some(false));
        assert_eq!(support_of(&jwt, "8.0", now), None);
        assert_eq!(support_of("garbage", "7.10", now), None);
    }

    #[test]
    fn target_info_without_a_list() {
        let infos = [
            ServerInfo {
                url: "http://127.0.0.1:3000".into(),
                version: "7.10".into(),
                supported_versions: None,
            },
            ServerInfo {
                url: "http://127.0.0.1:3001".into(),
                version: "7.10".into(),
                supported_versions: None,
            },
        ];
        let t = TargetInfo::of(&infos, true);
        assert_eq!(t.instances, 2);
        assert_eq!(t.rocketchat_version.as_deref(), Some("7.10"));
        assert_eq!(t.version_supported, None);
    }
}
