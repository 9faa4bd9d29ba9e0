//! Passwords: deriving the secrets the catalog stores, and checking what a
//! client sends against them. Plain passwords are never stored.
//!
//! | method | client sends | checked against |
//! |---|---|---|
//! | `password` (cleartext) | the password | SCRAM salted password, re-derived |
//! | `md5` | `md5(md5(password ‖ user) ‖ salt)` | the stored `md5(password ‖ user)` |
//! | `scram-sha-256` | a SCRAM proof | the salted password (pgwire's state machine) |

use ::pgwire::api::auth::sasl::scram::gen_salted_password;
use sediment_catalog::User;

/// SCRAM iterations; Postgres' default.
pub(crate) const SCRAM_ITERATIONS: u32 = 4096;

/// How clients prove who they are when users exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMethod {
    /// Cleartext password (use only over TLS or loopback).
    Password,
    /// Postgres' MD5 challenge.
    Md5,
    /// SCRAM-SHA-256, the Postgres default.
    #[default]
    #[value(name = "scram-sha-256")]
    ScramSha256,
}

/// The secrets of `name` with `password`, with a fresh random salt.
pub fn user_secret(name: &str, password: &str) -> User {
    // Random enough for a salt: uuid v4 draws from the OS generator.
    let salt = uuid::Uuid::new_v4().into_bytes().to_vec();
    User {
        name: name.to_owned(),
        salted_password: gen_salted_password(password, &salt, SCRAM_ITERATIONS as usize),
        salt,
        iterations: SCRAM_ITERATIONS,
        md5: format!("{:x}", md5::compute(format!("{password}{name}"))),
    }
}

pub(crate) fn check_cleartext(user: &User, password: &str) -> bool {
    constant_time_eq(&gen_salted_password(password, &user.salt, user.iterations as usize), &user.salted_password)
}

pub(crate) fn check_md5(user: &User, salt: &[u8], response: &str) -> bool {
    let mut inner = user.md5.as_bytes().to_vec();
    inner.extend_from_slice(salt);
    let expected = format!("md5{:x}", md5::compute(inner));
    constant_time_eq(expected.as_bytes(), response.as_bytes())
}

/// Compares secrets without leaking how long a prefix matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_check_the_right_password_only() {
        let user = user_secret("alice", "s3cret");
        assert!(check_cleartext(&user, "s3cret"));
        assert!(!check_cleartext(&user, "S3cret"));
        let salt = [1, 2, 3, 4];
        // What libpq computes for the MD5 method.
        let inner = format!("{:x}", md5::compute("s3cretalice"));
        let response = format!("md5{:x}", md5::compute([inner.as_bytes(), &salt].concat()));
        assert!(check_md5(&user, &salt, &response));
        assert!(!check_md5(&user, &[4, 3, 2, 1], &response));
        assert_ne!(user_secret("alice", "s3cret").salt, user.salt, "fresh salt each time");
    }
}
