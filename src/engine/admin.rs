//! The target's administrator, for provisioning, the preflight and
//! cleanup. Its secret comes from the environment or a file, never from a
//! scenario (which is hashed, copied into CI artifacts and shared), and is
//! never printed: [`Admin`]'s `Debug` leaves it out.

use std::fmt;
use std::path::Path;

use crate::rocketchat::{ClientConfig, RcError, Rest, Session};

/// Variables the admin is read from.
pub const ADMIN_USER_VAR: &str = "RC_ADMIN_USER";
pub const ADMIN_PASSWORD_VAR: &str = "RC_ADMIN_PASSWORD";
pub const ADMIN_USER_ID_VAR: &str = "RC_ADMIN_USER_ID";
pub const ADMIN_TOKEN_VAR: &str = "RC_ADMIN_TOKEN";

/// How to act as the admin.
#[derive(Clone, PartialEq, Eq)]
pub enum Admin {
    /// Logs in with a password (one REST `login`).
    Password { username: String, password: String },
    /// A personal access token: no login, and no two-factor prompt.
    Token { user_id: String, token: String },
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admin::Password { username, .. } => write!(f, "Admin(password of `{username}`)"),
            Admin::Token { user_id, .. } => write!(f, "Admin(token of user id `{user_id}`)"),
        }
    }
}

impl Admin {
    /// The admin from the environment (`env(name)`) or `password_file`:
    /// a token (`RC_ADMIN_USER_ID` + `RC_ADMIN_TOKEN`) first, else a
    /// password (from the file's first line or `RC_ADMIN_PASSWORD`) with
    /// the user `RC_ADMIN_USER`, else `default_user`, else `admin`.
    /// `None` when nothing is given.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        password_file: Option<&Path>,
        default_user: Option<&str>,
    ) -> Result<Option<Admin>, String> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        if password_file.is_none()
            && let (Some(user_id), Some(token)) = (var(ADMIN_USER_ID_VAR), var(ADMIN_TOKEN_VAR))
        {
            return Ok(Some(Admin::Token { user_id, token }));
        }
        let password = match password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--admin-password-file {}: {e}", path.display()))?;
                let first = text.lines().next().unwrap_or_default().to_string();
                if first.is_empty() {
                    return Err(format!(
                        "--admin-password-file {}: the first line is empty",
                        path.display()
                    ));
                }
                first
            }
            None => match var(ADMIN_PASSWORD_VAR) {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let username = var(ADMIN_USER_VAR)
            .or_else(|| default_user.map(str::to_string))
            .unwrap_or_else(|| "admin".into());
        Ok(Some(Admin::Password { username, password }))
    }

    /// Who, for messages: the username or the user id.
    pub fn who(&self) -> &str {
        match self {
            Admin::Password { username, .. } => username,
            Admin::Token { user_id, .. } => user_id,
        }
    }

    /// The password, when the admin logs in with one (it also answers
    /// Rocket.Chat's second-factor check by its password fallback).
    pub fn password(&self) -> Option<&str> {
        match self {
            Admin::Password { password, .. } => Some(password),
            Admin::Token { .. } => None,
        }
    }

    /// A REST client acting as the admin on `url`; a password logs in
    /// once (retry it with the caller's policy).
    pub async fn session(&self, url: &str, client: &ClientConfig) -> Result<Rest, RcError> {
        let mut rest = Rest::new(url, client)?;
        let session = match self {
            Admin::Password { username, password } => rest.login(username, password).await?,
            Admin::Token { user_id, token } => Session {
                user_id: user_id.clone(),
                token: token.clone(),
                username: String::new(),
            },
        };
        rest.set_session(Some(session));
        Ok(rest)
    }
}

/// Says how to give the admin, for errors.
pub fn how_to_give() -> String {
    format!(
        "set {ADMIN_PASSWORD_VAR} (and {ADMIN_USER_VAR}, default `admin`), or {ADMIN_USER_ID_VAR} + {ADMIN_TOKEN_VAR} (a personal access token), or pass --admin-password-file FILE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_token_wins_then_a_password_then_nothing() {
        let token = env(&[
            ("RC_ADMIN_USER_ID", "u1"),
            ("RC_ADMIN_TOKEN", "t"),
            ("RC_ADMIN_PASSWORD", "p"),
        ]);
        assert_eq!(
            Admin::from_env(&token, None, None).unwrap(),
            Some(Admin::Token {
                user_id: "u1".into(),
                token: "t".into()
            })
        );
        let pw = env(&[("RC_ADMIN_PASSWORD", "p")]);
        assert_eq!(
            Admin::from_env(&pw, None, Some("ops")).unwrap(),
            Some(Admin::Password {
                username: "ops".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            Admin::from_env(&env(&[("RC_ADMIN_PASSWORD", "")]), None, None).unwrap(),
            None
        );
    }

    #[test]
    fn a_password_file_gives_its_first_line_and_debug_hides_it() {
        let dir = std::env::temp_dir().join(format!("rocketload-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        let admin = Admin::from_env(&env(&[("RC_ADMIN_USER", "root")]), Some(&file), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            admin,
            Admin::Password {
                username: "root".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{admin:?}").contains("s3cret"));
        std::fs::write(&file, "\n").unwrap();
        let e = Admin::from_env(&env(&[]), Some(&file), None).unwrap_err();
        assert!(e.contains("first line is empty"), "{e}");
        let e = Admin::from_env(&env(&[]), Some(&dir.join("none")), None).unwrap_err();
        assert!(e.contains("--admin-password-file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
