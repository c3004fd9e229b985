//! Choosing a backend from a database URL, and keeping passwords out of logs and messages
//! (T/CI 857-2024 7.2.6: logs carry no secrets; GB/T 39725-2020 §9.3: credentials protected).

use std::path::Path;
use std::sync::Arc;

use crate::{PgStore, Result, SqliteStore, Store, StoreError};

/// Opens a store from a URL: `sqlite:PATH` or `sqlite://PATH` (the file is created if missing), or
/// `postgres://…` / `postgresql://…`. Does not migrate: call [`Store::migrate`] next.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() || path.starts_with(":memory:") || path.contains("mode=memory") {
            return Err(StoreError::InvalidUrl(format!(
                "{}: expected sqlite:PATH naming a database file (in-memory databases are not kept)",
                redact_url(url)
            )));
        }
        Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::InvalidUrl(format!(
            "{}: expected a URL starting with sqlite:, postgres:// or postgresql://",
            redact_url(url)
        )))
    }
}

/// The URL with its password replaced by `***`, for logs and messages: the password of the
/// `user:password@` part and the value of any parameter whose name contains `password`
/// (`?password=…`, `sslpassword=…`). When the URL is ambiguous, more is hidden rather than less.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // The last `@` ends the user info even when the password holds an unencoded `@`.
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) if !scheme.is_empty() => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => rest.to_string(),
        },
        _ => rest.to_string(),
    };
    format!("{scheme}{}", redact_params(&rest))
}

/// Replaces the values of `…password…=value` parameters.
fn redact_params(s: &str) -> String {
    const SEPARATORS: [char; 6] = ['?', '&', ';', ' ', '\t', '\n'];
    let mut out = String::with_capacity(s.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        match token.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(token),
        }
        token.clear();
    };
    for c in s.chars() {
        if SEPARATORS.contains(&c) {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_userinfo_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgresql://u:p%40ss@h/db"),
            "postgresql://u:***@h/db"
        );
        // An unencoded `@` or `/` in the password is hidden too.
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db"
        );
        let odd = redact_url("postgres://u:pa/ss@h/db");
        assert!(!odd.contains("pa/ss") && !odd.contains("ss@"), "{odd}");
    }

    #[test]
    fn password_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://h/db?sslpassword=x"),
            "postgres://h/db?sslpassword=***"
        );
        assert_eq!(
            redact_url("host=h PassWord=x dbname=d"),
            "host=h PassWord=*** dbname=d"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in [
            "postgres://u@h/db",
            "sqlite:/x/y.db",
            "sqlite:///x/y.db",
            "postgres://h/db?options=-c%20search_path%3Dx",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[tokio::test]
    async fn open_store_dispatches_on_the_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        let store = open_store(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        assert_eq!(store.backend(), crate::Backend::Sqlite);
        assert!(path.exists());
        let store = open_store(&format!("sqlite://{}", dir.path().join("b.db").display()))
            .await
            .unwrap();
        assert_eq!(store.backend(), crate::Backend::Sqlite);

        for bad in [
            "mysql://u:pw@h/db",
            "sqlite:",
            "sqlite::memory:",
            "/plain/path.db",
        ] {
            let err = open_store(bad).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidUrl(_)), "{bad}: {err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }
}
